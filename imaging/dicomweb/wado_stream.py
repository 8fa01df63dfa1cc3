"""Streamed multipart/related answers (PS3.18 8.6.1.2, RFC 2387) in bounded memory, under WSGI and ASGI.

A part is opened (data key unwrapped, header read: database work) inside the tenant's scope, then its
bytes are decrypted and sent outside of it. The body is produced after the view has returned, so the
scope of the request is gone by then; and a scope held across a `yield` would leak into, or be reset
from, another context under ASGI, where each step runs in its own sync_to_async call.
"""

import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework.request import Request

from imaging.models import StoredObject
from imaging.objects import plaintext_chunks
from portal.models import Tenant
from portal.tenancy import tenant_scope

T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    content_type: str
    chunks: Iterable[bytes]
    length: int | None = None
    location: str = ""


def in_scope(tenant: Tenant, work: Callable[..., T], *args) -> T:
    with tenant_scope(tenant):
        return work(*args)


def stored_chunks(tenant: Tenant, stored: StoredObject) -> Iterator[bytes]:
    """The object's plaintext as stored: byte for byte what was received (preamble zeroed on ingest)."""
    with tenant_scope(tenant):
        chunks = plaintext_chunks(stored)
        # The first step unwraps the data key, which reads the database: in scope.
        first = next(chunks)
    yield first
    yield from chunks


def multipart_body(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """The body of a multipart/related message. Parts of unknown length carry no Content-Length:
    the boundary delimits them (RFC 2046 5.1.1)."""
    delimiter = f"--{boundary}".encode()
    for part in parts:
        headers = [f"Content-Type: {part.content_type}"]
        if part.length is not None:
            headers.append(f"Content-Length: {part.length}")
        if part.location:
            headers.append(f"Content-Location: {part.location}")
        yield delimiter + b"\r\n" + "\r\n".join(headers).encode() + b"\r\n\r\n"
        yield from part.chunks
        yield b"\r\n"
    yield delimiter + b"--\r\n"


def multipart_response(request: Request, parts: Iterable[Part], part_type: str) -> StreamingHttpResponse:
    boundary = secrets.token_hex(16)
    response = streaming_response(request, multipart_body(parts, boundary))
    response["Content-Type"] = f'multipart/related; type="{part_type}"; boundary={boundary}'
    return response


def streaming_response(request: Request, body: Iterator[bytes]) -> StreamingHttpResponse:
    """Under ASGI Django consumes a synchronous iterator whole before sending it; an asynchronous one
    that steps the synchronous one in the request's thread keeps memory bounded there too."""
    content = _stepped(body) if isinstance(request._request, ASGIRequest) else body
    response = StreamingHttpResponse(content)
    # The body is decrypted PHI: never stored by a shared cache or the browser's disk cache.
    response["Cache-Control"] = "no-store"
    return response


async def _stepped(body: Iterator[bytes]) -> AsyncIterator[bytes]:
    # thread_sensitive: every step runs in the request's one sync thread, beside its database connection.
    step = sync_to_async(next, thread_sensitive=True)
    while (chunk := await step(body, None)) is not None:
        yield chunk
