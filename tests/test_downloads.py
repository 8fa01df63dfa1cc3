"""Study downloads (imaging/downloads): who may, what the archives hold, expiry and the audit trail.

The archive is built here by calling the service the worker calls (tests/test_downloads_worker.py runs
a real worker)."""

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from pydicom.fileset import FileSet

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.downloads import services
from imaging.downloads.models import DownloadJob
from imaging.models import Study
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import body, ingest_sample
from tests.factories import ShareFactory, ShareLinkFactory

pytestmark = pytest.mark.django_db


def _study(tenant, dataset) -> Study:
    with tenant_scope(tenant):
        return Study.objects.select_related("patient").get(study_instance_uid=dataset.StudyInstanceUID)


@pytest.fixture
def ct(tenant):
    return ingest_sample(tenant, "CT_small.dcm")


@pytest.fixture
def patient_client(tenant, member_factory, ct):
    user = member_factory(tenant, Role.PATIENT)
    study = _study(tenant, ct)
    with tenant_scope(tenant):
        study.patient.account = user
        study.patient.save(update_fields=["account"])
    client = Client()
    client.force_login(user)
    return client


def _urls(tenant, study_uid: str) -> dict:
    return {"choose": reverse("study-download", kwargs={"tenant_slug": tenant.slug, "study_uid": study_uid})}


def _job_url(name: str, job: DownloadJob, tenant, study_uid: str) -> str:
    return reverse(name, kwargs={"tenant_slug": tenant.slug, "study_uid": study_uid, "download_id": job.pk})


def download(client, tenant, study_uid: str, archive_format: str = "dicom_zip") -> tuple[DownloadJob, bytes]:
    """Ask for the download, build it as the worker would, follow the progress page, take the file."""
    started = client.post(_urls(tenant, study_uid)["choose"], {"format": archive_format})
    assert started.status_code == 302, started.status_code
    with tenant_scope(tenant):
        job = DownloadJob.objects.get(pk=started["Location"].rstrip("/").rsplit("/", 1)[1])
        services.build_download(str(job.pk))
        job.refresh_from_db()
    assert job.state == DownloadJob.State.READY, job.error
    assert client.get(started["Location"]).status_code == 200
    status = client.get(_job_url("study-download-status", job, tenant, study_uid)).json()
    assert (status["state"], status["done"], status["total"]) == ("ready", 1, 1)
    response = client.get(status["file_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return job, body(response)


def downloads_audited(tenant) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=AuditAction.DOWNLOAD))


def test_a_patient_downloads_their_study_as_dicom_with_a_dicomdir(patient_client, tenant, ct, tmp_path):
    _, archive = download(patient_client, tenant, ct.StudyInstanceUID)

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert "DICOMDIR" in opened.namelist()
        opened.extractall(tmp_path)
    dicomdir = pydicom.dcmread(tmp_path / "DICOMDIR")
    file_set = FileSet(dicomdir)
    referenced = [Path(instance.path) for instance in file_set]
    assert len(referenced) == 1
    files = [pydicom.dcmread(path) for path in referenced]
    assert [ds.SOPInstanceUID for ds in files] == [ct.SOPInstanceUID]
    assert files[0].pixel_array.any()
    assert referenced[0].relative_to(tmp_path.resolve()).parts[0].startswith("PT")


def test_the_jpeg_format_holds_one_non_blank_image_per_frame(tenant, member_factory):
    sample = ingest_sample(tenant, "US_palette_rle_2frame.dcm")
    user = member_factory(tenant, Role.RADIOLOGIST)
    client = Client()
    client.force_login(user)

    _, archive = download(client, tenant, sample.StudyInstanceUID, "jpeg_zip")

    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        names = opened.namelist()
        images = [Image.open(io.BytesIO(opened.read(name))) for name in names]
    assert len(names) == 2 and all(name.endswith(".jpg") for name in names)
    for image in images:
        assert image.format == "JPEG"
        low, high = image.convert("L").getextrema()
        assert high > low


def test_the_archive_is_stored_encrypted(patient_client, tenant, ct):
    from django.conf import settings

    job, archive = download(patient_client, tenant, ct.StudyInstanceUID)

    stored = (Path(settings.PALISADE_STORAGE[job.region]["location"]) / job.storage_name).read_bytes()
    assert stored.startswith(b"PLSD") and b"DICOMDIR" not in stored and b"DICM" not in stored
    assert job.archive_size == len(archive)


def test_every_transfer_is_audited_once(patient_client, tenant, ct):
    job, _ = download(patient_client, tenant, ct.StudyInstanceUID)
    events = downloads_audited(tenant)
    assert len(events) == 1
    assert events[0].object_type == "study" and events[0].object_ids == [ct.StudyInstanceUID]
    assert events[0].details["format"] == "dicom_zip" and events[0].details["job"] == str(job.pk)

    patient_client.get(_job_url("study-download-file", job, tenant, ct.StudyInstanceUID))

    assert len(downloads_audited(tenant)) == 2
    with tenant_scope(tenant):
        assert DownloadJob.objects.get(pk=job.pk).downloaded_count == 2


def test_an_expired_download_answers_410(patient_client, tenant, ct):
    job, _ = download(patient_client, tenant, ct.StudyInstanceUID)
    with tenant_scope(tenant):
        DownloadJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = patient_client.get(_job_url("study-download-file", job, tenant, ct.StudyInstanceUID))

    assert response.status_code == 410
    assert len(downloads_audited(tenant)) == 1


def test_expired_archives_are_deleted_by_the_sweeper(patient_client, tenant, ct):
    from imaging.downloads.tasks import sweep_study_downloads

    job, _ = download(patient_client, tenant, ct.StudyInstanceUID)
    with tenant_scope(tenant):
        DownloadJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert sweep_study_downloads() == (0, 1)
    with tenant_scope(tenant):
        assert DownloadJob.objects.get(pk=job.pk).storage_name == ""


def test_someone_elses_download_job_is_404(patient_client, tenant, ct, member_factory):
    job, _ = download(patient_client, tenant, ct.StudyInstanceUID)
    colleague = Client()
    colleague.force_login(member_factory(tenant, Role.RADIOLOGIST))

    for name in ("study-download-progress", "study-download-status", "study-download-file"):
        assert colleague.get(_job_url(name, job, tenant, ct.StudyInstanceUID)).status_code == 404


def test_another_patient_gets_404(tenant, ct, member_factory):
    client = Client()
    client.force_login(member_factory(tenant, Role.PATIENT))

    assert client.get(_urls(tenant, ct.StudyInstanceUID)["choose"]).status_code == 404
    assert (
        client.post(_urls(tenant, ct.StudyInstanceUID)["choose"], {"format": "dicom_zip"}).status_code == 404
    )


def test_a_member_of_another_clinic_gets_404(tenant, other_tenant, ct, member_factory):
    client = Client()
    client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))

    assert client.get(_urls(tenant, ct.StudyInstanceUID)["choose"]).status_code == 404
    wrong_clinic = reverse(
        "study-download", kwargs={"tenant_slug": other_tenant.slug, "study_uid": ct.StudyInstanceUID}
    )
    assert client.get(wrong_clinic).status_code == 404


@pytest.mark.parametrize("allow_download", [False, True])
def test_a_referring_doctor_downloads_only_if_the_share_allows(tenant, ct, member_factory, allow_download):
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    ShareFactory(tenant=tenant, study=_study(tenant, ct), grantee=doctor, allow_download=allow_download)
    client = Client()
    client.force_login(doctor)
    page = client.get(
        reverse("study-detail", kwargs={"tenant_slug": tenant.slug, "study_uid": ct.StudyInstanceUID})
    )
    assert (b'data-testid="download-study"' in page.content) is allow_download

    if not allow_download:
        assert client.get(_urls(tenant, ct.StudyInstanceUID)["choose"]).status_code == 404
        return
    _, archive = download(client, tenant, ct.StudyInstanceUID)
    assert zipfile.ZipFile(io.BytesIO(archive)).namelist()[0] == "DICOMDIR"


@pytest.mark.parametrize("allow_download", [False, True])
def test_a_share_link_visitor_downloads_only_if_the_link_allows(tenant, ct, allow_download):
    link = ShareLinkFactory(tenant=tenant, studies=[_study(tenant, ct)], allow_download=allow_download)
    client = Client()
    assert client.post(reverse("share-link-open", kwargs={"token": link.token})).status_code == 302
    home = client.get(reverse("share-link-home"))
    assert (b'data-testid="download-study"' in home.content) is allow_download

    if not allow_download:
        assert client.get(_urls(tenant, ct.StudyInstanceUID)["choose"]).status_code == 404
        return
    job, _ = download(client, tenant, ct.StudyInstanceUID)
    assert job.requested_by is None and job.share_link_id == link.pk
    [event] = downloads_audited(tenant)
    assert event.details["job"] == str(job.pk)


def test_the_study_page_offers_the_download_to_a_patient(patient_client, tenant, ct):
    page = patient_client.get(
        reverse("study-detail", kwargs={"tenant_slug": tenant.slug, "study_uid": ct.StudyInstanceUID})
    )
    assert b'data-testid="download-study"' in page.content
