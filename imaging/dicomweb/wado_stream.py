"""Streamed multipart/related answers (PS3.18 8.6.1.2, RFC 2387) in bounded memory, under WSGI and ASGI.

Everything that reads the database happens in the view, inside the tenant's scope: the stored objects
of the target, and their data keys (imaging.objects.RequestKeys, each study key unwrapped once). The
body is produced after the view has returned, outside of any scope, and only reads and decrypts files
with those keys: a query there would raise (django-scopes), so none can slip in unscoped.

Under ASGI the synchronous body is stepped in the request's thread a batch at a time (about
STEP_BYTES: a few parts, or one segment of a large object), not a piece at a time, and the next batch
is decrypted while the current one is being sent: a thread switch per MiB, not per piece.
"""

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.request import Request

from imaging.models import StoredObject
from imaging.objects import plaintext_chunks

# Bytes of body produced per step of the synchronous body under ASGI. Each step holds at most this
# much plus one decrypted segment (imaging.crypto.segments.SEGMENT_SIZE), and two steps are in flight.
STEP_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Part:
    content_type: str
    chunks: Iterable[bytes]
    length: int | None = None
    location: str = ""

    def headers(self) -> bytes:
        lines = [f"Content-Type: {self.content_type}"]
        if self.length is not None:
            lines.append(f"Content-Length: {self.length}")
        if self.location:
            lines.append(f"Content-Location: {self.location}")
        return "\r\n".join(lines).encode() + b"\r\n\r\n"


class PartLengthError(Exception):
    """A part's bytes did not match the length announced for it: the message is broken off."""


def stored_chunks(stored: StoredObject, data_key: bytes) -> Iterator[bytes]:
    """The object's plaintext as stored: byte for byte what was received (preamble zeroed on ingest),
    segment by segment. `data_key` comes from RequestKeys, in scope: this reads no database."""
    return plaintext_chunks(stored, data_key=data_key)


def multipart_body(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """The body of a multipart/related message. Parts of unknown length carry no Content-Length:
    the boundary delimits them (RFC 2046 5.1.1). A part of known length that yields other than that
    many bytes breaks the message off (PartLengthError) rather than send it misframed."""
    delimiter = f"--{boundary}".encode()
    # The CRLF that ends a part goes out with the next delimiter: one small piece between two parts'
    # bytes, not two (each piece is a message to send under ASGI).
    before = b""
    for part in parts:
        yield before + delimiter + b"\r\n" + part.headers()
        sent = 0
        for chunk in part.chunks:
            sent += len(chunk)
            yield chunk
        if part.length is not None and sent != part.length:
            raise PartLengthError(f"A part of {part.length} bytes had {sent}.")
        before = b"\r\n"
    yield before + delimiter + b"--\r\n"


def multipart_length(parts: Sequence[Part], boundary: str) -> int | None:
    """The length of multipart_body(parts, boundary) when every part's length is known, else None."""
    if any(part.length is None for part in parts):
        return None
    delimiter = len(f"--{boundary}")
    framing = sum(delimiter + 2 + len(part.headers()) + 2 for part in parts)
    return framing + sum(part.length for part in parts) + delimiter + 4


def multipart_response(
    request: Request, parts: Iterable[Part], part_type: str
) -> StreamingHttpResponse | HttpResponse:
    """A multipart/related answer. When `parts` is a list whose lengths are all known, the answer
    carries a Content-Length (no chunked transfer coding to add); a list of parts that are all in
    memory is answered whole rather than streamed."""
    boundary = secrets.token_hex(16)
    content_type = f'multipart/related; type="{part_type}"; boundary={boundary}'
    if isinstance(parts, list) and all(isinstance(part.chunks, list | tuple) for part in parts):
        response = HttpResponse(b"".join(multipart_body(parts, boundary)), content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response
    response = streaming_response(request, multipart_body(parts, boundary))
    response["Content-Type"] = content_type
    length = multipart_length(parts, boundary) if isinstance(parts, list) else None
    if length is not None:
        response["Content-Length"] = str(length)
    return response


def streaming_response(request: Request, body: Iterator[bytes]) -> StreamingHttpResponse:
    """Under ASGI Django consumes a synchronous iterator through one thread switch per item; an
    asynchronous one that steps it in batches in the request's thread keeps memory bounded and the
    switches few."""
    content = _stepped(body) if isinstance(request._request, ASGIRequest) else body
    response = StreamingHttpResponse(content)
    # The body is decrypted PHI: never stored by a shared cache or the browser's disk cache.
    response["Cache-Control"] = "no-store"
    return response


def _batch(body: Iterator[bytes], size: int = STEP_BYTES) -> list[bytes]:
    """The next pieces of `body`, about `size` bytes of them (fewer at its end, none after it)."""
    pieces, total = [], 0
    for piece in body:
        if piece:
            pieces.append(piece)
            total += len(piece)
            if total >= size:
                break
    return pieces


async def _stepped(body: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: every step runs in the request's one sync thread, one after the other, so the
    # read-ahead step and the closing of `body` never overlap, whatever the client does.
    step = sync_to_async(_batch, thread_sensitive=True)
    ahead = asyncio.ensure_future(step(body))
    try:
        while pieces := await ahead:
            # Read ahead: the next batch is read and decrypted while this one goes to the client.
            ahead = asyncio.ensure_future(step(body))
            for piece in pieces:
                yield piece
    finally:
        if not ahead.done():
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ahead
        close = getattr(body, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()
