"""Receiving and indexing: every valid sample ends up encrypted, indexed and byte-identical on read."""

import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from pydicom import dcmread

from audit.models import AuditAction, AuditEvent
from imaging.crypto.keys import shred_study_key
from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import BlobIntegrityError
from imaging.ingest.index import index_job
from imaging.ingest.parse import zeroed_preamble_reader
from imaging.ingest.receive import receive_file, receive_path
from imaging.models import IngestJob, Instance, Patient, Series, StoredObject, Study
from imaging.objects import plaintext_chunks
from imaging.storage import region_storage
from portal.tenancy import tenant_scope
from tests.ingest.builders import minimal_dataset, write
from tests.ingest.samples import SAMPLES
from tests.ingest.test_samples import ACCEPT, EXPECTED

VALID = sorted(name for name, outcome in EXPECTED.items() if outcome == ACCEPT)
REFUSED = sorted(name for name, outcome in EXPECTED.items() if outcome != ACCEPT)
IMPORT = IngestJob.Source.IMPORT


def ingest(tenant, path: Path, **kwargs) -> IngestJob:
    """Receive then index, as the worker would (the worker itself is exercised in test_worker_ingest)."""
    with tenant_scope(tenant):
        job = receive_file(tenant, path, source=IMPORT, **kwargs)
        if job.state == IngestJob.State.QUEUED:
            job = index_job(tenant, str(job.pk))
        return job


def stored_bytes(tenant) -> list[bytes]:
    root = Path(settings.PALISADE_STORAGE[tenant.home_region]["location"]) / str(tenant.pk)
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()]


def plaintext(tenant, stored: StoredObject) -> bytes:
    with tenant_scope(tenant):
        return b"".join(plaintext_chunks(StoredObject.objects.get(pk=stored.pk)))


@pytest.mark.parametrize("name", VALID)
def test_a_valid_sample_is_stored_encrypted_indexed_and_reads_back_identical(tenant, name):
    source = SAMPLES / name

    job = ingest(tenant, source)

    assert job.state == IngestJob.State.STORED, job.error_reason
    with zeroed_preamble_reader(source) as original:
        assert plaintext(tenant, job.stored_object) == original.read()
    dataset = dcmread(source, stop_before_pixels=True)
    with tenant_scope(tenant):
        instance = Instance.objects.select_related("series__study").get(
            sop_instance_uid=dataset.SOPInstanceUID
        )
    assert instance.series.study.study_instance_uid == dataset.StudyInstanceUID
    (blob,) = stored_bytes(tenant)
    assert b"DICM" not in blob
    for element in ("PatientName", "PatientID"):
        value = str(dataset.get(element, "")).encode()
        if len(value) >= 4:
            assert value not in blob


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_sample_gets_its_reason_and_leaves_nothing_stored(tenant, name):
    job = ingest(tenant, SAMPLES / name)

    assert (job.state, job.error_code) == (IngestJob.State.REJECTED, EXPECTED[name])
    assert job.error_reason and job.failure_reason
    assert stored_bytes(tenant) == []
    assert AuditEvent.objects.filter(action=AuditAction.STORE_REJECTED, object_ids=[str(job.pk)]).exists()


def test_storing_is_audited_with_identifiers_only(tenant):
    job = ingest(tenant, SAMPLES / "CT_small.dcm")

    event = AuditEvent.objects.get(action=AuditAction.STORE)
    dataset = dcmread(SAMPLES / "CT_small.dcm", stop_before_pixels=True)
    assert event.object_ids == [dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID]
    assert str(dataset.PatientName) not in str(event.details)
    assert event.details["job"] == str(job.pk)


def test_the_same_file_twice_is_stored_once(tenant, django_capture_on_commit_callbacks):
    first = ingest(tenant, SAMPLES / "MR_small.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        second = ingest(tenant, SAMPLES / "MR_small.dcm")

    assert (first.state, second.state) == (IngestJob.State.STORED, IngestJob.State.DUPLICATE)
    with tenant_scope(tenant):
        assert StoredObject.objects.count() == Instance.objects.count() == 1
    assert len(stored_bytes(tenant)) == 1


def test_the_same_instance_with_other_bytes_is_kept_as_a_new_version(tenant):
    first = ingest(tenant, SAMPLES / "MR_small.dcm")
    second = ingest(tenant, SAMPLES / "MR_small_implicit.dcm")

    assert second.state == IngestJob.State.NEW_VERSION
    with tenant_scope(tenant):
        instance = Instance.objects.get()
        assert [v.version for v in instance.versions.all()] == [2, 1]
    assert plaintext(tenant, first.stored_object) != plaintext(tenant, second.stored_object)


def test_a_series_of_four_builds_one_study_with_exact_counts(tenant):
    for path in sorted(SAMPLES.glob("series_CT2_*.dcm")):
        ingest(tenant, path)

    with tenant_scope(tenant):
        study = Study.objects.get()
        assert (study.number_of_series, study.number_of_instances, study.modalities_in_study) == (1, 4, "CT")
        assert Series.objects.get().number_of_instances == 4
        assert Patient.objects.count() == 1


def test_the_same_study_sent_by_two_clinics_is_two_studies(tenant, other_tenant):
    ingest(tenant, SAMPLES / "CT_small.dcm")
    ingest(other_tenant, SAMPLES / "CT_small.dcm")

    for clinic in (tenant, other_tenant):
        with tenant_scope(clinic):
            assert Study.objects.count() == 1


def test_an_executable_preamble_is_zeroed_and_raises_a_security_alert(tenant, tmp_path):
    path = write(minimal_dataset(), tmp_path / "polyglot.dcm")
    raw = bytearray(path.read_bytes())
    raw[:2] = b"MZ"
    path.write_bytes(bytes(raw))

    job = ingest(tenant, path)

    assert job.state == IngestJob.State.STORED
    assert plaintext(tenant, job.stored_object)[:128] == bytes(128)
    alert = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT)
    assert alert.details["alert"] == "executable_preamble" and alert.details["kind"] == "pe"


def test_a_flipped_byte_in_storage_is_detected_on_read(tenant):
    job = ingest(tenant, SAMPLES / "CT_small.dcm")
    stored = job.stored_object
    path = Path(region_storage(stored.region).path(stored.storage_name))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    with pytest.raises(BlobIntegrityError):
        plaintext(tenant, stored)


def test_an_object_swapped_for_another_is_detected_on_read(tenant):
    first = ingest(tenant, SAMPLES / "CT_small.dcm").stored_object
    second = ingest(tenant, SAMPLES / "MR_small.dcm").stored_object
    storage = region_storage(first.region)
    Path(storage.path(first.storage_name)).write_bytes(Path(storage.path(second.storage_name)).read_bytes())

    with pytest.raises((BlobIntegrityError, KeyManagementError)):
        plaintext(tenant, first)


def test_shredding_a_study_key_makes_its_objects_unreadable_and_spares_other_clinics(tenant, other_tenant):
    mine = ingest(tenant, SAMPLES / "CT_small.dcm").stored_object
    theirs = ingest(other_tenant, SAMPLES / "CT_small.dcm").stored_object

    with tenant_scope(tenant):
        shred_study_key(Study.objects.get())

    with pytest.raises(KeyManagementError):
        plaintext(tenant, mine)
    assert plaintext(other_tenant, theirs)[128:132] == b"DICM"


def test_a_zip_of_samples_is_received_member_by_member(tenant, tmp_path):
    archive = tmp_path / "cd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("CT_small.dcm", "MR_small.dcm", "DICOMDIR", "MR_truncated.dcm"):
            zf.write(SAMPLES / name, f"PATIENT/{name}")

    with tenant_scope(tenant):
        jobs = list(receive_path(tenant, archive, source=IMPORT))

    states = sorted((job.display_name, job.state) for job in jobs)
    assert states == [
        ("cd.zip / PATIENT/CT_small.dcm", IngestJob.State.QUEUED),
        ("cd.zip / PATIENT/MR_small.dcm", IngestJob.State.QUEUED),
        ("cd.zip / PATIENT/MR_truncated.dcm", IngestJob.State.REJECTED),
    ]
    assert not any((Path(settings.VAR_DIR) / "scratch").iterdir())


def test_a_zip_slip_archive_is_refused_whole(tenant, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(SAMPLES / "CT_small.dcm", "ok.dcm")
        zf.write(SAMPLES / "MR_small.dcm", "../../etc/evil.dcm")

    with tenant_scope(tenant):
        jobs = list(receive_path(tenant, archive, source=IMPORT))

    assert [(job.state, job.error_code) for job in jobs] == [(IngestJob.State.REJECTED, "unsafe_archive")]
    assert stored_bytes(tenant) == []


def test_import_dicom_reports_progress_and_every_refusal(tenant, tmp_path):
    folder = tmp_path / "import"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_truncated.dcm"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    out = io.StringIO()

    call_command("import_dicom", tenant.slug, str(folder), stdout=out, stderr=io.StringIO())

    refusal = "The Pixel Data element is longer than the bytes left in the file."
    assert out.getvalue().splitlines() == [
        f"refused {folder / 'MR_truncated.dcm'}: {refusal}",
        f"{tenant.slug}: 3 files: 2 waiting to be indexed, 1 rejected.",
    ]


def test_import_dicom_fails_with_one_line_for_a_missing_path(tenant, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="No such file or folder"):
        call_command("import_dicom", tenant.slug, str(tmp_path / "nope"))
