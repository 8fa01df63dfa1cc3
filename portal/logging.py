"""Log lines for operators: one JSON object a line (or plain text), with the request's ID and the clinic.

Fields of a JSON line: `time` (ISO 8601, UTC), `level`, `logger`, `message`, and when known
`request_id` and `tenant` (the clinic's slug), plus `exc_info` for an exception's traceback. Nothing else
of the request is added: no path (a path names a study's UID), no query string, no user — log messages
carry identifiers only, and PHI never reaches a log line (pydicom's own warnings are silenced in
settings.LOGGING because they quote element values).

The request ID comes from the `X-Request-ID` header the reverse proxy sets (nginx's $request_id,
deploy/nginx/palisade.conf) when it is a sane token, else a new one is made; it is answered in the
response's `X-Request-ID` so that a user's report, the proxy's access log and these lines meet.
"""

import logging
import logging.config
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# A request ID from outside is taken only if it looks like one: it is written into every log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("palisade_request_id", default=None)
tenant_var: ContextVar[str | None] = ContextVar("palisade_log_tenant", default=None)


class RequestContextFilter(logging.Filter):
    """Puts the current request's ID and clinic slug on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        if record.name in _PATH_LOGGERS:
            _drop_path(record)
        return True


# Django's request loggers write the request's path ("Not Found: /dicomweb/<clinic>/studies/<UID>") and
# the request itself: a path names studies and series by UID, identifiers that de-identification removes.
# The status and the request ID stay, which is what an operator needs to find the proxy's line.
_PATH_LOGGERS = {"django.request", "django.server", "django.security.csrf"}


def _drop_path(record: logging.LogRecord) -> None:
    # django.utils.log.log_response: "<reason>: <path>", "Forbidden (<reason>): <path>" — the path last.
    if isinstance(record.msg, str) and record.msg.endswith(": %s") and isinstance(record.args, tuple):
        record.msg, record.args = record.msg[: -len(": %s")], record.args[:-1]
    for attribute in ("request", "server_time"):
        if hasattr(record, attribute):
            delattr(record, attribute)


class JsonFormatter(_BaseJsonFormatter):
    """time, level, logger, message, request_id, tenant; other `extra=` fields a caller passes too."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        log_record["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        for field in ("request_id", "tenant"):
            value = getattr(record, field, None)
            if value:
                log_record[field] = value
            else:
                log_record.pop(field, None)
        # Python 3.12's asyncio task name: noise in every line.
        log_record.pop("taskName", None)


class PlainFormatter(logging.Formatter):
    """The plain format, with the request ID and clinic when there are some."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{field}={value}"
            for field in ("request_id", "tenant")
            if (value := getattr(record, field, None))
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def configure_now(config: dict) -> dict:
    """Apply `config` as the process starts, before Django's own setup applies it again, and route
    Python's warnings into it: what a process warns before django.setup() (Celery's privilege check,
    a missing static folder) is then a log line in the same format, not a bare line on stderr."""
    logging.captureWarnings(True)
    logging.config.dictConfig(config)
    return config


def logging_config(log_format: str, level: str) -> dict:
    """settings.LOGGING for PALISADE_LOG_FORMAT ("json" or "plain") and LOG_LEVEL."""
    if log_format not in ("json", "plain"):
        raise ValueError(f"PALISADE_LOG_FORMAT must be 'json' or 'plain', not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "portal.logging.RequestContextFilter"}},
        "formatters": {
            "json": {"()": "portal.logging.JsonFormatter"},
            "plain": {"()": "portal.logging.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # pydicom quotes element values (names, IDs, dates) in its warnings: PHI must not reach the logs.
            "pydicom": {"level": "CRITICAL", "propagate": False},
            # Axes reports each failure at WARNING (names and addresses masked); the audit trail has
            # the detail.
            "axes": {"level": "WARNING"},
            # uvicorn's access log prints each request's path, which names studies: nginx keeps the
            # access log (deploy/nginx/palisade.conf), with the same request ID.
            "uvicorn.access": {"level": "WARNING"},
            # Its error log goes through the root handler, in the same format.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
        },
    }


class RequestIdMiddleware:
    """Sets the request ID (and, once the URL is resolved, the clinic's slug) for the request's log
    lines, and answers the ID in `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        request_token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(request_token)
            tenant_var.reset(tenant_token)
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        # The slug as the URL names it, a clinic's public handle; not whether the clinic exists.
        slug = view_kwargs.get("tenant_slug")
        if slug:
            tenant_var.set(slug)
