"""Django's ASGI handler, with the request's synchronous work done in one thread switch, on a thread
that outlives the request.

Every middleware of the portal and every view is synchronous. In its asynchronous mode Django adapts
them one by one: each middleware's `process_request` and `process_response` goes to the request's
thread and back on its own, a dozen switches per request, about 1 ms of a 7 ms DICOMweb search on
this project's machine (bench/README.md). Here the middleware chain is built in synchronous mode, as
under WSGI, and the whole of it runs in the request's thread in one switch, together with the
request_started signal before it and, for a response that is not streamed, the response's close (the
request_finished signal) after it, which Django's handler does in switches of their own; the response
is then sent by the event loop as Django's handler sends it.

Django gives each request a new thread (asgiref's ThreadSensitiveContext), and database connections
belong to a thread, so each request opened and closed its own: about 2 ms a request on SQLite. Here a
request borrows a thread from a small pool, through the executor asgiref's ThreadSensitiveContext takes
for this purpose, and its connection stays open for the next request on that thread (CONN_MAX_AGE,
portal/settings.py). One request at a time uses a thread, as before.

A STOW-RS request's body is read by the view while it arrives (portal/streamed_body.py), instead of
whole into a temporary file before the view starts.

Bodies are sent in messages of up to 1 MiB instead of Django's 64 KiB: a WADO-RS retrieval of a study
is tens of megabytes, and each message costs the server a switch through the event loop.
"""

import asyncio
import contextlib
import re
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from portal.streamed_body import StreamedBody

# STOW-RS (imaging/dicomweb/urls.py): POST /dicomweb/<clinic>/studies[/<study>].
_STREAMED_BODY_PATH = re.compile(r"^/dicomweb/[^/]+/studies(?:/[^/]+)?$")

# Idle threads kept for the next requests; more are started when more requests run at once, and those
# past this number end when their request does.
IDLE_THREADS = 8


class _RequestThread(ThreadPoolExecutor):
    """One thread, and how many calls are queued or running on it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        # Futures finish on the thread; set.add and set.discard are atomic, a counter's += is not.
        self._unfinished: set[Future] = set()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        self._unfinished.add(future)
        # Called at once if the future is already done: after the add, never before it.
        future.add_done_callback(self._unfinished.discard)
        return future

    @property
    def pending(self) -> int:
        return len(self._unfinished)


class RequestThreads:
    """Single-thread executors lent to one request at a time. Used from the event loop's thread only."""

    def __init__(self, keep: int = IDLE_THREADS) -> None:
        self._idle: list[_RequestThread] = []
        self._keep = keep

    @property
    def idle(self) -> int:
        return len(self._idle)

    def lease(self) -> ThreadPoolExecutor:
        return self._idle.pop() if self._idle else _RequestThread()

    def release(self, executor: _RequestThread) -> None:
        # A request whose client went away can leave a call running (asyncio cannot stop a thread):
        # such a thread is not lent again, so that no other request waits behind that call.
        if executor.pending == 0 and len(self._idle) < self._keep:
            self._idle.append(executor)
        else:
            # Without waiting: the event loop's thread must not block. The close still runs first.
            _stop(executor, wait=False)

    def shutdown(self) -> None:
        """Close the idle threads' database connections and end the threads (at the server's shutdown)."""
        while self._idle:
            _stop(self._idle.pop(), wait=True)


def _stop(executor: ThreadPoolExecutor, *, wait: bool) -> None:
    # Closed on their own thread, which they belong to, rather than left to the garbage collector.
    executor.submit(connections.close_all)
    executor.shutdown(wait=wait)


class PortalASGIHandler(ASGIHandler):
    chunk_size = 1024 * 1024

    def __init__(self) -> None:
        BaseHandler.__init__(self)
        # Synchronous mode: ASGIHandler.__init__ would build the chain for the event loop.
        self.load_middleware(is_async=False)
        self.threads = RequestThreads()
        # Made once: asgiref's wrapper inspects and copies the function's attributes when it is made.
        self._respond_in_thread = sync_to_async(self._respond, thread_sensitive=True)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.lease()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.release(executor)

    async def handle(self, scope, receive, send) -> None:
        if scope["method"] == "POST" and _STREAMED_BODY_PATH.match(scope["path"]):
            await self._handle_streamed_body(scope, receive, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        response = await self._respond_in_thread(scope, body_file)
        if not response.streaming:
            # Closed already, in the request's thread. A client that has gone is not sent to (uvicorn).
            await self.send_response(response, send)
            return
        # A streamed body (a WADO-RS retrieval) is stepped while it is sent; as in Django's handler, a
        # client that goes away stops it.
        sending = asyncio.create_task(self.send_response(response, send))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([listening, sending], return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            sending.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await listening
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            finally:
                await sync_to_async(response.close, thread_sensitive=True)()
                body_file.close()

    def _respond(self, scope, body_file) -> HttpResponseBase:
        """In the request's thread, in one switch, what Django's handler does in three: the
        request_started signal; the middleware and the view; and for a response that is not streamed,
        its close (the request_finished signal), as a WSGI server closes it once it has its bytes."""
        try:
            signals.request_started.send(sender=self.__class__, scope=scope)
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self._response_of(request)
        except BaseException:
            body_file.close()
            raise
        if not response.streaming:
            response.close()
            body_file.close()
        return response

    async def _handle_streamed_body(self, scope, receive, send) -> None:
        body = StreamedBody(asyncio.get_running_loop())
        pump = asyncio.create_task(body.pump(receive))
        try:
            # As ASGIHandler.handle does, except that the body is still arriving while the view runs.
            set_script_prefix(get_script_prefix(scope))
            await signals.request_started.asend(sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body)
            response = error_response if request is None else await self.run_get_response(request)
            if not body.failed:
                # Otherwise the client has gone, or the body limits answer (BoundedDicomwebBody).
                await self.send_response(response, send)
            await sync_to_async(response.close)()
        finally:
            # A view that answered without reading the whole body (a refusal): uvicorn discards the rest.
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def read_body(self, receive) -> tempfile.SpooledTemporaryFile:
        """As Django's, but a body larger than FILE_UPLOAD_MAX_MEMORY_SIZE goes to the private scratch
        folder (FILE_UPLOAD_TEMP_DIR, mode 0700, under var/) rather than the system's shared temporary
        folder: an upload's body is plaintext DICOM."""
        body_file = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (the request closes it)
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b", dir=settings.FILE_UPLOAD_TEMP_DIR
        )
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted
            body_file.write(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        # thread_sensitive: the thread this request borrowed, which streamed bodies step in afterwards
        # (imaging/dicomweb/wado_stream.py).
        return await sync_to_async(self._response_of, thread_sensitive=True)(request)

    def _response_of(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response
