"""The STOW-RS request body read while it arrives (portal/streamed_body.py): bounded ahead of the reader,
whole when it ends, and an error for the reader when it is cut off."""

import asyncio

from portal.streamed_body import StreamedBody

PIECE = 64 * 1024


def _client(pieces: int, *, then_leave: bool = False):
    """A receive callable sending `pieces` pieces of PIECE bytes; counts what it was asked for."""
    asked = {"count": 0}

    async def receive() -> dict:
        asked["count"] += 1
        if asked["count"] > pieces:
            return {"type": "http.disconnect"}
        last = asked["count"] == pieces and not then_leave
        return {"type": "http.request", "body": bytes([asked["count"] % 256]) * PIECE, "more_body": not last}

    return receive, asked


def test_the_pump_stops_when_the_buffer_is_full_and_goes_on_as_the_view_reads():
    async def scenario() -> tuple[int, int, int]:
        body = StreamedBody(asyncio.get_running_loop(), buffer_bytes=4 * PIECE)
        receive, asked = _client(100)
        pump = asyncio.create_task(body.pump(receive))
        await asyncio.sleep(0.2)
        while_full = asked["count"]
        read = await asyncio.to_thread(body.read, 3 * PIECE)
        await asyncio.sleep(0.2)
        after_reading = asked["count"]
        rest = await asyncio.to_thread(body.read)
        await asyncio.wait_for(pump, timeout=5)
        return while_full, after_reading, len(read) + len(rest)

    while_full, after_reading, total = asyncio.run(scenario())

    # Four pieces fill the buffer: the pump asks for no fifth until the view has read.
    assert while_full == 4
    assert 4 < after_reading < 100
    assert total == 100 * PIECE


def test_reads_give_the_pieces_in_order_and_then_the_end():
    async def scenario() -> list[bytes]:
        body = StreamedBody(asyncio.get_running_loop())
        receive, _ = _client(3)
        pump = asyncio.create_task(body.pump(receive))
        reads = []
        while chunk := await asyncio.to_thread(body.read, PIECE // 2):
            reads.append(chunk)
        await pump
        reads.append(await asyncio.to_thread(body.read))
        return reads

    reads = asyncio.run(scenario())

    assert b"".join(reads) == b"\x01" * PIECE + b"\x02" * PIECE + b"\x03" * PIECE
    assert all(len(chunk) <= PIECE // 2 for chunk in reads)
    assert reads[-1] == b""


def test_a_client_that_leaves_mid_body_fails_the_read_after_what_arrived():
    async def scenario() -> tuple[bytes, str, bool]:
        body = StreamedBody(asyncio.get_running_loop())
        receive, _ = _client(2, then_leave=True)
        pump = asyncio.create_task(body.pump(receive))
        await pump
        arrived = await asyncio.to_thread(body.read, 2 * PIECE)
        try:
            await asyncio.to_thread(body.read, PIECE)
        except OSError as error:
            return arrived, str(error), body.failed
        return arrived, "", body.failed

    arrived, error, failed = asyncio.run(scenario())

    assert arrived == b"\x01" * PIECE + b"\x02" * PIECE
    assert "went away" in error
    assert failed
