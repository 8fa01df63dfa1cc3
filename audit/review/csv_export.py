"""The review page's events as CSV, streamed in bounded memory under WSGI and ASGI.

The body is written after the view has returned, outside the clinic's scope: it reads the audit table
and the users' e-mail addresses only (neither is a scoped model), through a query the view built in
scope. Rows are read with `iterator()` (a server-side cursor on PostgreSQL) and sent in pieces of
about CHUNK_BYTES.
"""

import csv
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse

from audit.models import AuditEvent
from audit.review.labels import action_label

COLUMNS = [
    "occurred_at",
    "sequence",
    "action",
    "action_name",
    "outcome",
    "actor_email",
    "actor_role",
    "object_type",
    "object_ids",
    "source_address",
    "user_agent",
    "session_ref",
    "details",
]
CHUNK_BYTES = 64 * 1024
ROWS_PER_QUERY = 500
# OWASP "CSV injection": a cell starting with one of these is a formula to a spreadsheet. User agents
# and DICOM-derived identifiers are sent by others, so every text cell is checked.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _row(event: AuditEvent) -> list:
    cells = [
        event.occurred_at.isoformat(),
        event.sequence,
        event.action,
        action_label(event.action),
        event.outcome,
        event.actor.email if event.actor_id else "",
        event.actor_role,
        event.object_type,
        " ".join(str(value) for value in event.object_ids),
        event.source_address or "",
        event.user_agent,
        event.session_ref,
        json.dumps(event.details, sort_keys=True) if event.details else "",
    ]
    return [neutralise(cell) if isinstance(cell, str) else cell for cell in cells]


class _Line:
    """csv.writer's file: hands back each row it is given instead of keeping it."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    """The header and one line per event, in pieces of about CHUNK_BYTES."""
    writer = csv.writer(_Line())
    pending = [writer.writerow(COLUMNS)]
    size = len(pending[0])
    for event in events.iterator(chunk_size=ROWS_PER_QUERY):
        line = writer.writerow(_row(event))
        pending.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(pending).encode()
            pending, size = [], 0
    yield "".join(pending).encode()


def csv_response(request: HttpRequest, events: QuerySet[AuditEvent], filename: str) -> StreamingHttpResponse:
    chunks = csv_chunks(events)
    # Under ASGI Django would read a synchronous iterator whole into memory before sending it; an
    # asynchronous one, stepping the query in the request's thread, keeps memory bounded.
    content = _stepped(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The trail names who looked at which patient: never kept by a shared cache or the browser.
    response["Cache-Control"] = "no-store"
    return response


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def _stepped(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: every step runs in the request's one sync thread, where its database
    # connection (and the server-side cursor of iterator()) lives.
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await step(chunks)) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()
