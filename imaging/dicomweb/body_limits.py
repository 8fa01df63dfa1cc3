"""A time and size budget for DICOMweb and upload request bodies under ASGI (THREATS.md 9).

Django's ASGI handler reads a request body to its end before any middleware or view runs, and neither it
nor uvicorn bounds how long that takes or how large a chunked body grows (uvicorn's --timeout-keep-alive
only covers the wait between requests). A chunked body that never ends would hold a worker and fill the
disk. This ASGI middleware hands Django the body piece by piece and stops it: 408 when the next piece
does not come within the idle time or the whole body not within the total time, 413 past the size limit.
Django then sees a disconnect and sends nothing, and this answer goes out instead.
"""

import asyncio
import json
import re
import time
from dataclasses import replace

from imaging.dicomweb.limits import StowLimits
from imaging.ingest.limits import IngestLimits
from imaging.upload.services import MULTIPART_OVERHEAD_BYTES, max_upload_bytes

DICOMWEB_PATH_PREFIX = "/dicomweb/"
# The upload page's file endpoint (imaging/upload/urls.py): the same time bounds, its own size bound.
UPLOAD_FILE_PATH = re.compile(r"^/t/[^/]+/upload/files/$")
_DISCONNECT = {"type": "http.disconnect"}
_SCOPE_KEY = "palisade.bounded_body"


class BoundedDicomwebBody:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        declared = headers.get(b"content-length", b"")
        # RFC 9112 6.3: a request without Transfer-Encoding has as many body bytes as its Content-Length
        # says, none without one, and uvicorn reads no more; so a search or a retrieval (a GET) has
        # nothing to bound, and is spared the budget's timers on the event loop.
        has_body = b"transfer-encoding" in headers or declared not in (b"", b"0")
        limits = _limits_for(scope["path"]) if has_body else None
        if limits is None:
            await self.app(scope, receive, send)
            return
        if declared.isdigit() and int(declared) > limits.max_bytes:
            await _refuse(send, 413, f"The body is larger than the {limits.max_bytes} bytes allowed.")
            return
        body = _BoundedBody(receive, limits)
        # The application learns why its body was cut off (refused_status), to record it.
        scope = {**scope, _SCOPE_KEY: body}
        response_started = False

        async def tracking_send(message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, body.receive, tracking_send)
        if body.refusal is not None and not response_started:
            await _refuse(send, *body.refusal)


def refused_status(scope: dict) -> int | None:
    """The status these limits answer a request with when they cut its body off (408, 413), else None.
    A view whose body read failed audits the answer the client gets, not a guess."""
    body = scope.get(_SCOPE_KEY)
    return body.refusal[0] if body is not None and body.refusal is not None else None


def _limits_for(path: str) -> StowLimits | None:
    if path.startswith(DICOMWEB_PATH_PREFIX):
        return StowLimits.from_settings()
    if UPLOAD_FILE_PATH.match(path):
        upload_bytes = max_upload_bytes(IngestLimits.from_settings()) + MULTIPART_OVERHEAD_BYTES
        return replace(StowLimits.from_settings(), max_bytes=upload_bytes)
    return None


class _BoundedBody:
    def __init__(self, receive, limits: StowLimits) -> None:
        self._receive = receive
        self._limits = limits
        self._deadline = time.monotonic() + limits.body_seconds
        self._received = 0
        self._complete = False
        self.refusal: tuple[int, str] | None = None

    async def receive(self) -> dict:
        if self._complete:
            # Past the body, Django listens for the client's disconnect while the view runs.
            return await self._receive()
        timeout = min(self._limits.body_idle_seconds, self._deadline - time.monotonic())
        try:
            message = await asyncio.wait_for(self._receive(), timeout=max(timeout, 0))
        except TimeoutError:
            self.refusal = (408, "The request body did not arrive in time.")
            return _DISCONNECT
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limits.max_bytes:
                self.refusal = (413, f"The body is larger than the {self._limits.max_bytes} bytes allowed.")
                return _DISCONNECT
            self._complete = not message.get("more_body", False)
        return message


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
