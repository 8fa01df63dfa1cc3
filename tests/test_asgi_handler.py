"""The portal's ASGI handler (portal/asgi_handler.py), driven the way uvicorn drives it: the middleware and
the view run on one thread per request, that thread and its database connection serve the next request,
two requests at once never share a thread, and bodies go out in messages of up to 1 MiB. A STOW-RS body
is read by the view while it arrives (portal/streamed_body.py); other bodies are read whole first, into
the private scratch folder when large."""

import asyncio
import json
import os
import threading

import pytest
from asgiref.sync import async_to_sync
from django.core import signals
from django.db import connection
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from portal.asgi_handler import PortalASGIHandler, _RequestThread

_seen: dict[str, list[int]] = {}
_both_in = threading.Barrier(2, timeout=10)


class _RecordThread:
    """A middleware that notes the thread it runs on (the handler builds the chain at start)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        _seen.setdefault("middleware", []).append(threading.get_ident())
        return self.get_response(request)


def _where(request) -> JsonResponse:
    connection.ensure_connection()
    return JsonResponse({"thread": threading.get_ident(), "connection": id(connection.connection)})


def _together(request) -> JsonResponse:
    # Both requests must be inside their views at the same moment, each on its own thread.
    _both_in.wait()
    return JsonResponse({"thread": threading.get_ident()})


def _three_mebibytes(request) -> StreamingHttpResponse:
    async def body():
        yield b"x" * (3 * 1024 * 1024 + 5)

    return StreamingHttpResponse(body())


def _small(request) -> HttpResponse:
    return HttpResponse(b"ok")


_first_piece_read = threading.Event()


@csrf_exempt
def _reads_as_it_arrives(request, slug: str) -> HttpResponse:
    first = request.read(len(FIRST_PIECE))
    _first_piece_read.set()
    rest = request.read()
    return JsonResponse({"first": first.decode(), "rest": len(rest)})


@csrf_exempt
def _where_the_body_waits(request) -> HttpResponse:
    return JsonResponse({"path": os.readlink(f"/proc/self/fd/{request._stream.fileno()}")})


FIRST_PIECE = b"the first piece"
_endless: dict[str, object] = {}


def _endless_stream(request) -> StreamingHttpResponse:
    async def body():
        _endless["sent"] = 0
        try:
            for _ in range(10_000):
                _endless["sent"] += 1
                yield b"x" * 1024
                await asyncio.sleep(0)
        finally:
            _endless["closed"] = True

    return StreamingHttpResponse(body())


urlpatterns = [
    path("dicomweb/<slug:slug>/studies", _reads_as_it_arrives),
    path("upload", _where_the_body_waits),
    path("where", _where),
    path("together", _together),
    path("stream", _three_mebibytes),
    path("small", _small),
    path("endless", _endless_stream),
]


@pytest.fixture
def handler(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._RecordThread"]
    _seen.clear()
    built = PortalASGIHandler()
    yield built
    built.threads.shutdown()


async def _call(
    handler: PortalASGIHandler,
    route: str,
    method: str = "GET",
    body: list | None = None,
    leave_after: int | None = None,
) -> tuple[int, list[dict]]:
    """`body`: the pieces the client sends, each bytes or a coroutine function that returns them;
    `leave_after`: the client goes away once it has this many messages of the response's body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": f"/{route}",
        "raw_path": f"/{route}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    pieces = list(body or [b""])
    client_gone = asyncio.Event()

    async def receive() -> dict:
        if pieces:
            piece = pieces.pop(0)
            piece = piece if isinstance(piece, bytes) else await piece()
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        await client_gone.wait()
        return {"type": "http.disconnect"}

    messages: list[dict] = []

    async def send(message: dict) -> None:
        messages.append(message)
        if leave_after is not None and len(messages) > leave_after:
            client_gone.set()

    await handler(scope, receive, send)
    client_gone.set()
    return messages[0]["status"], messages[1:]


def _json(body_messages: list[dict]) -> dict:
    return json.loads(b"".join(message.get("body", b"") for message in body_messages))


@pytest.mark.django_db(transaction=True)
def test_a_request_runs_on_one_thread_which_serves_the_next_request_with_its_connection(handler, settings):
    status, first = async_to_sync(_call)(handler, "where")
    assert status == 200
    status, second = async_to_sync(_call)(handler, "where")
    assert status == 200

    first, second = _json(first), _json(second)
    # The middleware ran on the view's thread, not the event loop's (one switch per request).
    assert _seen["middleware"] == [first["thread"], second["thread"]]
    assert first["thread"] != threading.get_ident()
    # The second request borrowed the thread the first gave back.
    assert second["thread"] == first["thread"]
    if settings.DATABASES["default"]["CONN_MAX_AGE"]:
        # And found its connection open (SQLite keeps it; PostgreSQL's pool lends one per request).
        assert second["connection"] == first["connection"]


@pytest.mark.django_db(transaction=True)
def test_requests_at_the_same_time_never_share_a_thread(handler):
    async def both() -> list[tuple[int, list[dict]]]:
        return await asyncio.gather(_call(handler, "together"), _call(handler, "together"))

    answers = async_to_sync(both)()

    assert [status for status, _ in answers] == [200, 200]
    threads = {_json(body)["thread"] for _, body in answers}
    assert len(threads) == 2
    # Both threads are kept for later requests.
    assert handler.threads.idle == 2


def test_bodies_go_out_in_messages_of_up_to_one_mebibyte(handler):
    status, messages = async_to_sync(_call)(handler, "stream")

    assert status == 200
    sizes = [len(message.get("body", b"")) for message in messages]
    # Django's own handler sends 64 KiB messages: 49 of them for this body.
    assert sizes == [1024 * 1024, 1024 * 1024, 1024 * 1024, 5, 0]
    assert all(message["more_body"] for message in messages[:-1])
    assert not messages[-1].get("more_body", False)


def test_a_thread_still_busy_when_its_request_ends_is_not_lent_again(handler):
    started, release = threading.Event(), threading.Event()

    def still_running() -> None:
        started.set()
        release.wait(timeout=10)

    executor = handler.threads.lease()
    executor.submit(still_running)
    assert started.wait(timeout=10)
    handler.threads.release(executor)

    assert handler.threads.idle == 0
    release.set()
    status, _ = async_to_sync(_call)(handler, "small")
    assert status == 200
    assert handler.threads.idle == 1


def test_a_stow_body_is_read_by_the_view_while_the_client_still_sends_it(handler):
    _first_piece_read.clear()

    async def second_piece() -> bytes:
        # Sent only once the view has read the first: a handler that read the whole body before the
        # view ran would wait here for ever (bounded: the test then fails).
        assert await asyncio.to_thread(_first_piece_read.wait, 10)
        return b"x" * 100_000

    status, body = async_to_sync(_call)(
        handler, "dicomweb/clinic/studies", "POST", [FIRST_PIECE, second_piece]
    )

    assert status == 200
    assert _json(body) == {"first": FIRST_PIECE.decode(), "rest": 100_000}


def test_a_large_body_read_before_the_view_waits_in_the_private_scratch_folder(handler, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path

    status, body = async_to_sync(_call)(handler, "upload", "POST", [b"x" * (3 * 1024 * 1024)])

    assert status == 200
    # Past FILE_UPLOAD_MAX_MEMORY_SIZE on disk, unnamed, in the scratch folder rather than /tmp.
    assert _json(body)["path"].startswith(str(tmp_path))


def test_the_request_signals_run_on_the_requests_thread_in_its_one_switch(handler, monkeypatch):
    threads: dict[str, list[int]] = {"started": [], "finished": []}
    switches = []
    submit = _RequestThread.submit

    def counted_submit(self, fn, /, *args, **kwargs):
        switches.append(fn)
        return submit(self, fn, *args, **kwargs)

    def started(**kwargs) -> None:
        threads["started"].append(threading.get_ident())

    def finished(**kwargs) -> None:
        threads["finished"].append(threading.get_ident())

    monkeypatch.setattr(_RequestThread, "submit", counted_submit)
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        status, _ = async_to_sync(_call)(handler, "small")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)

    assert status == 200
    (middleware_thread,) = _seen["middleware"]
    assert threads == {"started": [middleware_thread], "finished": [middleware_thread]}
    # Django's handler switches three times: for request_started, the view, and the response's close.
    assert len(switches) == 1


def test_a_client_that_goes_away_stops_a_streamed_body(handler):
    _endless.clear()

    status, _ = async_to_sync(_call)(handler, "endless", leave_after=3)

    assert status == 200
    assert _endless["closed"] is True
    # Stopped soon after the client went, far from the 10,000 pieces of the whole body.
    assert _endless["sent"] < 100
