"""A request body that the view reads while the client is still sending it.

Django's ASGI handler reads a request's whole body into a temporary file before any view runs, so the
server waits for the client and then the client for the server: for a STOW-RS request of 20 CT
instances (10 MB) about 15 ms of reading, then the multipart parsing, none of it while the bytes
arrive. Here the event loop receives the body into a small buffer (`pump`) while the view's thread
reads it (`read`), as a WSGI server hands a view its input stream. Nothing is kept beyond the buffer:
the view decides where the bytes go (imaging/dicomweb/multipart.py writes each part to its file).

The pump stops receiving while the buffer is full and goes on when the view has read half of it, so a
fast client cannot fill memory. A client that goes away, or a body that BoundedDicomwebBody stops (too
slow, too large: it hands the application a disconnect), makes `read` raise OSError, which Django's
request turns into UnreadablePostError for the view; the handler then sends nothing and the body limit's
own answer (408, 413) goes out.
"""

import asyncio
import threading
from collections import deque

# Bytes received ahead of the view at most: a few of uvicorn's body messages (64 KiB each) and more
# than one read of the view (imaging/dicomweb/multipart.py reads 256 KiB at a time).
BUFFER_BYTES = 4 * 1024 * 1024


class StreamedBody:
    def __init__(self, loop: asyncio.AbstractEventLoop, buffer_bytes: int = BUFFER_BYTES) -> None:
        self._loop = loop
        self._limit = buffer_bytes
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._failure: str | None = None
        self._changed = threading.Condition()
        # Set and cleared on the event loop's thread only; the reader sets it through the loop.
        self._room = asyncio.Event()
        self._room.set()

    @property
    def failed(self) -> bool:
        """The body was cut off before its end: the client left, or the body limits stopped it."""
        return self._failure is not None

    async def pump(self, receive) -> None:
        """Receive the body until its end (run as a task on the event loop)."""
        try:
            while not self._ended:
                await self._room.wait()
                message = await receive()
                if message["type"] == "http.disconnect":
                    self._fail("The request body ended before its end: the client went away.")
                    return
                with self._changed:
                    chunk = message.get("body", b"")
                    if chunk:
                        self._chunks.append(chunk)
                        self._buffered += len(chunk)
                    self._ended = not message.get("more_body", False)
                    if self._buffered >= self._limit:
                        self._room.clear()
                    self._changed.notify_all()
        except BaseException:
            self._fail("The request body could not be received.")
            raise

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes, fewer when no more has arrived yet (all that is left when negative); b""
        only at the end. Blocks the calling thread until bytes arrive. Raises OSError when the body was
        cut off."""
        pieces: list[bytes] = []
        wanted = size if size >= 0 else None
        with self._changed:
            while wanted is None or wanted > 0:
                while not self._chunks and not self._ended and self._failure is None:
                    self._changed.wait()
                if not self._chunks:
                    if self._failure is not None:
                        raise OSError(self._failure)
                    break
                chunk = self._chunks.popleft()
                if wanted is not None and len(chunk) > wanted:
                    chunk, rest = chunk[:wanted], chunk[wanted:]
                    self._chunks.appendleft(rest)
                pieces.append(chunk)
                self._buffered -= len(chunk)
                if self._buffered <= self._limit // 2:
                    # Within the loop: a read of everything waits for what the pump brings next.
                    self._loop.call_soon_threadsafe(self._room.set)
                if wanted is not None:
                    wanted -= len(chunk)
                    # What has arrived so far answers this read: the caller asks again for more.
                    if not self._chunks:
                        break
        return b"".join(pieces)

    def close(self) -> None:
        """Nothing to release: Django's request closes its stream at the end."""

    def _fail(self, reason: str) -> None:
        with self._changed:
            if not self._ended:
                self._failure = reason
            self._changed.notify_all()
