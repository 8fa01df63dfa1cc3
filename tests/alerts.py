"""Helpers of the alert tests: audit events at chosen times, and a webhook receiver on loopback."""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings

import audit
from audit.models import AuditAction, AuditEvent
from tests.mail import FILE_BACKEND


def record_at(moment: datetime, action: AuditAction, **kwargs) -> AuditEvent:
    """An audit event as `audit.record` writes it, as if it had happened at `moment`."""
    event = audit.event(action, **kwargs)
    event.occurred_at = moment
    (written,) = audit.record_all([event])
    return written


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        timestamp = self.headers["X-Palisade-Timestamp"]
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(self.headers["X-Palisade-Signature"], f"sha256={expected}")


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 (a random port) that keeps every POST it gets. `answers` are the
    status codes of the first requests, in order; after them it answers 204."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self._answers = list(answers or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._answers.pop(0) if receiver._answers else 204
                receiver.deliveries.append(Delivery(dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/palisade"

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.deliveries) >= count:
                return self.deliveries
            time.sleep(0.1)
        raise AssertionError(f"{len(self.deliveries)} webhook requests within {timeout:.0f}s, not {count}")


def wait_until(condition, timeout: float = 60.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{message} not met within {timeout:.0f}s")


def start_alert_worker(worker_factory):
    """A worker that delivers alerts: mail to files under var/mail (read with tests.mail.mails), clinic
    webhooks allowed on loopback, and webhook retries after a fifth of a second rather than ten."""
    for old in Path(settings.EMAIL_FILE_PATH).glob("*.log"):
        old.unlink()
    return worker_factory(
        "alerts",
        **FILE_BACKEND,
        PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL="true",
        PALISADE_ALERT_WEBHOOK_BACKOFF_SECONDS="0.2",
    )
