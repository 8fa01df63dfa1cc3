"""A real Celery worker builds a study download (the page's progress follows it)."""

import io
import time
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from imaging.downloads.models import DownloadJob
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import body, ingest_sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for_state(tenant, job_id: str, timeout: float = 120.0) -> DownloadJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            job = DownloadJob.objects.get(pk=job_id)
        if job.state in (DownloadJob.State.READY, DownloadJob.State.FAILED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"download {job_id} still {job.state} after {timeout}s")


def test_a_worker_builds_the_download_the_radiologist_asked_for(worker_factory, tenant, member_factory):
    sample = ingest_sample(tenant, "CT_small.dcm")
    worker_factory("downloads")
    client = Client()
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    started = client.post(
        reverse("study-download", kwargs={"tenant_slug": tenant.slug, "study_uid": sample.StudyInstanceUID}),
        {"format": "dicom_zip"},
    )
    job = wait_for_state(tenant, started["Location"].rstrip("/").rsplit("/", 1)[1])

    assert job.state == DownloadJob.State.READY, job.error
    status = client.get(started["Location"] + "status/").json()
    assert status["state"] == "ready" and status["done"] == status["total"] == 1
    archive = zipfile.ZipFile(io.BytesIO(body(client.get(status["file_url"]))))
    assert archive.namelist()[0] == "DICOMDIR" and len(archive.namelist()) == 2
