"""WADO-RS through Django's ASGI handler, as uvicorn serves it: the body is stepped in batches in the
request's thread, with no database work once the view has returned, and is what was stored."""

import io

import pydicom
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from accounts.roles import Role
from imaging.ingest.parse import zeroed_preamble_reader
from tests.dicomweb.wado import ALL_SYNTAXES, ingest_sample, instance_path
from tests.ingest.samples import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)
SERIES = [f"series_CT2_{n}.dcm" for n in (17106, 17136, 17166, 17196)]


@pytest.fixture
def get(tenant, member_factory):
    """GET through the ASGI handler: (response, its whole body)."""
    client = AsyncClient()
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    async def fetch(path: str, accept: str) -> tuple:
        response = await client.get(path, headers={"Accept": accept})
        if not response.streaming:
            return response, response.content
        return response, b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(fetch)


def _parts(response, content: bytes) -> list[bytes]:
    boundary = response["Content-Type"].split("boundary=")[1].encode()
    pieces = content.split(b"--" + boundary)[1:-1]
    return [piece[2:].partition(b"\r\n\r\n")[2][:-2] for piece in pieces]


def test_a_study_streams_whole_with_its_content_length(get, tenant):
    datasets = [ingest_sample(tenant, name) for name in SERIES]

    response, content = get(f"/dicomweb/{tenant.slug}/studies/{datasets[0].StudyInstanceUID}", ALL_SYNTAXES)

    assert response.status_code == 200
    assert response.streaming
    assert int(response["Content-Length"]) == len(content)
    retrieved = {}
    for part in _parts(response, content):
        retrieved[pydicom.dcmread(io.BytesIO(part)).SOPInstanceUID] = part
    for ds, name in zip(datasets, SERIES, strict=True):
        with zeroed_preamble_reader(SAMPLES / name) as original:
            assert retrieved[ds.SOPInstanceUID] == original.read()


def test_several_frames_stream_and_one_frame_answers_whole(get, tenant):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")
    accept = 'multipart/related; type="image/jpeg"'

    several, several_content = get(instance_path(tenant, ds, "/frames/1,2,3"), accept)
    one, one_content = get(instance_path(tenant, ds, "/frames/2"), accept)

    assert several.streaming and not one.streaming
    frames = _parts(several, several_content)
    assert [frame[:2] for frame in frames] == [b"\xff\xd8"] * 3
    assert _parts(one, one_content) == [frames[1]]


def test_the_stepped_body_reads_at_most_one_batch_ahead_and_closes_what_it_reads():
    """A 300 MB object must stream: however large the body, no more than the batch being sent and the
    one read ahead are held, and a client that hangs up closes the body (its file) at once."""
    from imaging.dicomweb.wado_stream import STEP_BYTES, _stepped

    produced, closed = [], []

    def body():
        try:
            for _ in range(300):
                produced.append(1)
                yield b"x" * (STEP_BYTES // 4)
        finally:
            closed.append(True)

    async def read_three_then_hang_up() -> int:
        stream = _stepped(body())
        received = 0
        for _ in range(3):
            received += len(await anext(stream))
        await stream.aclose()
        return received

    received = async_to_sync(read_three_then_hang_up)()

    assert received == 3 * (STEP_BYTES // 4)
    assert len(produced) <= 8  # the batch being sent and the one read ahead, 4 pieces each
    assert closed == [True]
