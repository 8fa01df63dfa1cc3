"""C-STORE into the ingest pipeline: success only once durably stored, byte for byte as sent."""

import hashlib
import io
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from pydicom import dcmread
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, _config

from imaging.dimse.services import register_remote_ae
from imaging.models import IngestJob, Instance, StoredObject
from imaging.objects import plaintext_chunks
from portal.tenancy import tenant_scope
from tests.dimse.conftest import LOOPBACK, storage_root
from tests.ingest.samples import SAMPLES
from tests.ingest.test_samples import ACCEPT, EXPECTED

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# storescu proposes uncompressed syntaxes unless told which compressed one to propose; proposing each
# file's own syntax first means nothing is converted on the way, so the bytes stored are the file's.
STORESCU_PROPOSAL = {
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.1": "-xe",
    "1.2.840.10008.1.2.1.99": "-xd",
    "1.2.840.10008.1.2.2": "-xb",
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.81": "-xu",
    "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.4.91": "-xw",
    "1.2.840.10008.1.2.5": "-xr",
}
# dcmtk 3.6.7 predates Label Map Segmentation Storage and will not send it.
UNKNOWN_TO_DCMTK = {"SEG_labelmap.dcm"}


def valid_samples() -> list[Path]:
    return [
        SAMPLES / name
        for name, outcome in sorted(EXPECTED.items())
        if outcome == ACCEPT and name not in UNKNOWN_TO_DCMTK
    ]


def data_set_bytes(part10: bytes) -> bytes:
    """What follows the File Meta Information: (0002,0000) gives the group's length (PS3.10 7.1)."""
    assert part10[128:132] == b"DICM" and part10[132:136] == b"\x02\x00\x00\x00"
    return part10[144 + int.from_bytes(part10[140:144], "little") :]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(part10: bytes) -> tuple[str, ...]:
    dataset = dcmread(io.BytesIO(part10), defer_size=None)
    pixels = dataset.get("PixelData", b"")
    if len(pixels) % 2:
        pixels += b"\0"  # dcmtk pads an odd-length value to even, as PS3.5 7.1.1 requires
    return (
        str(dataset.file_meta.TransferSyntaxUID),
        str(dataset.SOPClassUID),
        str(dataset.SOPInstanceUID),
        str(dataset.StudyInstanceUID),
        str(dataset.SeriesInstanceUID),
        digest(pixels),
    )


def wait_until_indexed(tenant, timeout: float = 120.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            states = list(IngestJob.objects.values_list("state", flat=True))
        if IngestJob.State.QUEUED not in states:
            return states
        time.sleep(0.5)
    raise AssertionError(f"still queued after {timeout}s")


def test_every_valid_sample_sent_with_storescu_is_stored_as_sent_and_indexed(
    scp, tenant, modality, worker_factory
):
    by_syntax: dict[str, list[Path]] = defaultdict(list)
    for path in valid_samples():
        by_syntax[str(read_file_meta_info(path).TransferSyntaxUID)].append(path)

    for syntax, paths in by_syntax.items():
        result = scp.store("MODALITY1", "ALPHA", STORESCU_PROPOSAL[syntax], *paths)
        assert result.returncode == 0, result.stdout
        assert result.stdout.count("Received Store Response (Success)") == len(paths), result.stdout

    # Answered success means already stored: read back before any worker has run. storescu re-encodes
    # what it sends (dcmtk drops group lengths and pads odd values), so the stored objects are compared
    # with the files by identity and pixel data here; byte-exactness is the next test's.
    with tenant_scope(tenant):
        jobs = list(IngestJob.objects.select_related("stored_object"))
        assert {job.state for job in jobs} == {IngestJob.State.QUEUED}
        assert all(job.source == IngestJob.Source.DIMSE for job in jobs)
        stored = [b"".join(plaintext_chunks(job.stored_object)) for job in jobs]
    assert sorted(map(fingerprint, stored)) == sorted(
        fingerprint(path.read_bytes()) for path in valid_samples()
    )

    worker_factory()
    states = wait_until_indexed(tenant)
    assert IngestJob.State.REJECTED not in states
    distinct_instances = {
        str(read_file_meta_info(path).MediaStorageSOPInstanceUID) for path in valid_samples()
    }
    with tenant_scope(tenant):
        assert Instance.objects.count() == len(distinct_instances)


@pytest.fixture
def raw_sender(monkeypatch):
    """pynetdicom as the sending AE, sending a file's data set as it is on disk, undecoded: how a
    faulty modality sends what a careful SCU such as storescu would not."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)

    def send(port: int, calling: str, called: str, path: Path):
        meta = read_file_meta_info(path)
        ae = AE(ae_title=calling)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
        assoc = ae.associate(LOOPBACK, port, ae_title=called)
        assert assoc.is_established
        try:
            return assoc.send_c_store(path)
        finally:
            assoc.release()

    return send


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm", "SC_deflated_image_dfl.dcm"]
)
def test_the_data_set_is_stored_byte_for_byte_as_it_came_over_the_wire(
    scp, tenant, modality, raw_sender, name
):
    status = raw_sender(scp.port, "MODALITY1", "ALPHA", SAMPLES / name)

    assert status.Status == 0x0000
    with tenant_scope(tenant):
        (stored,) = StoredObject.objects.all()
        part10 = b"".join(plaintext_chunks(stored))
    assert data_set_bytes(part10) == data_set_bytes((SAMPLES / name).read_bytes())
    assert stored.transfer_syntax_uid == read_file_meta_info(SAMPLES / name).TransferSyntaxUID


def test_a_data_set_the_parse_boundary_refuses_fails_with_its_reason_and_nothing_is_stored(
    scp, tenant, modality, raw_sender
):
    status = raw_sender(scp.port, "MODALITY1", "ALPHA", SAMPLES / "MR_truncated.dcm")

    assert status.Status == 0xC000  # PS3.4 B.2.3 Error: Cannot understand
    assert status.ErrorComment  # the ingest reason, for the modality's log
    with tenant_scope(tenant):
        (job,) = IngestJob.objects.all()
        assert job.state == IngestJob.State.REJECTED and job.error_code == "truncated"
        assert not StoredObject.objects.exists()
    assert not storage_root(tenant).exists() or not any(storage_root(tenant).rglob("*"))


def test_a_peer_that_may_not_store_is_refused_not_authorized_and_nothing_is_stored(scp, tenant, raw_sender):
    register_remote_ae(tenant, "VIEWER", may_store=False)

    assert scp.echo("VIEWER", "ALPHA").returncode == 0
    status = raw_sender(scp.port, "VIEWER", "ALPHA", SAMPLES / "CT_small.dcm")

    assert status.Status == 0x0124  # PS3.7 C.5.8 Refused: Not Authorized
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()


def test_the_scratch_copy_of_a_received_instance_is_gone_once_answered(scp, tenant, modality):
    result = scp.store("MODALITY1", "ALPHA", SAMPLES / "CT_small.dcm")

    assert result.returncode == 0, result.stdout
    scratch = Path(settings.VAR_DIR) / "scratch"
    assert [p for p in scratch.iterdir() if p.name.startswith("dimse-")], "the listener's folder is there"
    assert not [p for p in scratch.glob("dimse-*/*")]


def _queued_messages() -> int:
    """Messages waiting in the suite's task queue (no worker is running yet)."""
    from kombu.exceptions import ChannelError

    from portal.celery import app

    with app.connection_for_read() as connection:
        try:
            declared = connection.default_channel.queue_declare(
                settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
            )
        except ChannelError:
            return 0
        return declared.message_count


def test_an_association_queues_its_instances_for_indexing_together(scp, tenant, modality, worker_factory):
    # One indexing message for the association, not one per instance (imaging.ingest.batching).
    paths = [
        path
        for path in valid_samples()
        if str(read_file_meta_info(path).TransferSyntaxUID) == "1.2.840.10008.1.2.1"
    ][:8]
    assert len(paths) >= 3
    before = _queued_messages()
    result = scp.store("MODALITY1", "ALPHA", "-xe", *paths)
    assert result.stdout.count("Received Store Response (Success)") == len(paths), result.stdout
    deadline = time.monotonic() + 20
    while _queued_messages() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # past the batch's longest wait: nothing more is coming
    assert _queued_messages() - before == 1

    worker_factory()
    assert IngestJob.State.REJECTED not in wait_until_indexed(tenant)
    with tenant_scope(tenant):
        assert Instance.objects.count() == len(
            {str(read_file_meta_info(path).MediaStorageSOPInstanceUID) for path in paths}
        )
