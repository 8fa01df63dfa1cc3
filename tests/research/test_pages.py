"""The research pages of a clinic and the study's de-identified download: who may (clinic admins and
radiologists), everyone else's 404, the forms' refusals, and the audit trail."""

import io
import zipfile

import pydicom
import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.downloads import services as downloads
from imaging.downloads.models import DownloadJob
from imaging.research.models import DeviceMask, ResearchExport, ResearchProject
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import body, ingest_sample
from tests.research.conftest import decide, make_project, run_export

pytestmark = pytest.mark.django_db

PROJECT_FORM = {
    "name": "Lung nodules",
    "purpose": "Training a nodule detector",
    "recipients": "University imaging lab",
    "options": ["retain-long-modified-dates", "clean-descriptors"],
    "safe_private": "",
    "burned_in": "refuse",
    "destination": "zip",
    "stow_url": "",
    "stow_token": "",
}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events(tenant, action) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.fixture
def setting(tenant, admin, consenting):
    """A consenting patient's study, a project with a finished zip export, and a device row."""
    ct = consenting("CT_small.dcm")
    project = make_project(tenant, admin)
    export = run_export(project, admin)
    with tenant_scope(tenant):
        mask = DeviceMask.objects.create(tenant=tenant, manufacturer="ACME", model="X", flagged=True)
    return {"ct": ct, "project": project, "export": export, "mask": mask}


def research_urls(tenant, setting) -> list[str]:
    slug = {"tenant_slug": tenant.slug}
    project = slug | {"project_id": setting["project"].pk}
    export = slug | {"export_id": setting["export"].pk}
    return [
        reverse("research-projects", kwargs=slug),
        reverse("research-project-new", kwargs=slug),
        reverse("research-device-masks", kwargs=slug),
        reverse("research-device-mask-delete", kwargs=slug | {"mask_id": setting["mask"].pk}),
        reverse("research-project", kwargs=project),
        reverse("research-project-edit", kwargs=project),
        reverse("research-export-new", kwargs=project),
        reverse("research-export-status", kwargs=export),
        reverse("research-export-file", kwargs=export),
        reverse("study-deidentified-download", args=[tenant.slug, setting["ct"].StudyInstanceUID]),
    ]


@pytest.mark.parametrize(
    "role", [Role.TECHNOLOGIST, Role.BILLING, Role.REFERRING_PHYSICIAN, Role.PATIENT, Role.AUDITOR]
)
def test_members_without_the_right_get_404_on_every_research_page(role, tenant, member_factory, setting):
    client = signed_in(member_factory(tenant, role))
    denied_before = len(events(tenant, AuditAction.ACCESS_DENIED))

    for url in research_urls(tenant, setting):
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url

    assert len(events(tenant, AuditAction.ACCESS_DENIED)) - denied_before == 2 * len(
        research_urls(tenant, setting)
    )
    with tenant_scope(tenant):
        assert DeviceMask.objects.filter(pk=setting["mask"].pk).exists()
        assert ResearchExport.objects.count() == 1 and not DownloadJob.objects.exists()


def test_the_patient_of_the_study_gets_404_on_its_de_identified_download(tenant, member_factory, setting):
    user = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        from imaging.models import Study

        patient = Study.objects.get(study_instance_uid=setting["ct"].StudyInstanceUID).patient
        patient.account = user
        patient.save(update_fields=["account"])
    url = reverse("study-deidentified-download", args=[tenant.slug, setting["ct"].StudyInstanceUID])

    assert signed_in(user).get(url).status_code == 404


def test_a_member_of_another_clinic_gets_404_on_every_research_page(
    tenant, other_tenant, member_factory, setting
):
    client = signed_in(member_factory(other_tenant, Role.TENANT_ADMIN))

    for url in research_urls(tenant, setting):
        assert client.get(url).status_code == 404, url
        assert client.post(url).status_code == 404, url


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.RADIOLOGIST])
def test_research_managers_open_every_page(role, tenant, member_factory, setting):
    client = signed_in(member_factory(tenant, role))
    urls = research_urls(tenant, setting)
    delete_mask = urls.pop(3)

    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.post(delete_mask).status_code == 302


def test_an_admin_creates_a_project_with_the_forms_options(tenant, admin, admin_client):
    response = admin_client.post(reverse("research-project-new", args=[tenant.slug]), PROJECT_FORM)

    assert response.status_code == 302
    with tenant_scope(tenant):
        project = ResearchProject.objects.get()
    assert project.options == ["clean-descriptors", "retain-long-modified-dates"]
    assert len(bytes(project.secret_sealed)) > 32
    [event] = events(tenant, AuditAction.RESEARCH_PROJECT_SAVED)
    assert event.object_ids == [str(project.pk)] and event.details["created"] is True
    assert "Training a nodule detector" not in str(event.details)
    page = admin_client.get(response["Location"]).content.decode()
    assert "Clean Descriptors Option" in page


def test_contradictory_options_are_a_form_error_naming_them(tenant, admin_client):
    form = PROJECT_FORM | {"options": ["retain-long-full-dates", "retain-long-modified-dates"]}

    response = admin_client.post(reverse("research-project-new", args=[tenant.slug]), form)

    assert response.status_code == 400
    assert b"retain-long-full-dates" in response.content and b"cannot be combined" in response.content
    with tenant_scope(tenant):
        assert not ResearchProject.objects.exists()


def test_the_bearer_token_is_never_shown_back(tenant, admin_client):
    form = PROJECT_FORM | {
        "destination": "dicomweb",
        "stow_url": "https://archive.example/dicomweb/studies",
        "stow_token": "very-secret-token",
    }
    created = admin_client.post(reverse("research-project-new", args=[tenant.slug]), form)

    edit = admin_client.get(created["Location"] + "edit/")
    detail = admin_client.get(created["Location"])

    assert b"very-secret-token" not in edit.content and b"very-secret-token" not in detail.content
    assert b"A token is stored." in edit.content


def test_the_export_form_counts_then_starts_the_export(tenant, admin, admin_client, consenting):
    consenting("CT_small.dcm")
    mr = ingest_sample(tenant, "MR_small.dcm")
    decide(tenant, admin, mr, grant=True)
    decide(tenant, admin, mr, grant=False)
    project = make_project(tenant, admin)
    url = reverse("research-export-new", args=[tenant.slug, project.pk])

    preview = admin_client.post(url, {"action": "preview"})
    started = admin_client.post(url, {"action": "start", "modality": "CT"})

    text = preview.content.decode()
    assert 'data-testid="preview-matched">2<' in text and 'data-testid="preview-studies">1<' in text
    assert 'data-testid="preview-left-out">1<' in text
    assert started.status_code == 302
    with tenant_scope(tenant):
        export = ResearchExport.objects.get()
    assert export.query["modality"] == "CT" and export.state == ResearchExport.State.QUEUED
    assert [event.object_ids for event in events(tenant, AuditAction.RESEARCH_EXPORT_STARTED)] == [
        [str(export.pk)]
    ]


def test_the_project_page_shows_each_export_with_its_report_and_archive(tenant, admin_client, setting):
    page = admin_client.get(reverse("research-project", args=[tenant.slug, setting["project"].pk]))

    assert page.status_code == 200
    assert b'data-testid="left-out">0<' in page.content
    status = admin_client.get(
        reverse("research-export-status", args=[tenant.slug, setting["export"].pk])
    ).json()
    assert status["state"] == "done" and status["done"] == status["total"] == 1
    assert status["report"]["instances"] == 1


def test_the_archive_downloads_audited_and_every_file_opens(tenant, admin_client, setting):
    response = admin_client.get(reverse("research-export-file", args=[tenant.slug, setting["export"].pk]))

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Cache-Control"].startswith("max-age=0") and response["Referrer-Policy"] == "no-referrer"
    with zipfile.ZipFile(io.BytesIO(body(response))) as archive:
        files = [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist()]
    assert len(files) == 1 and files[0].PatientIdentityRemoved == "YES"
    [event] = events(tenant, AuditAction.DEIDENTIFIED_DOWNLOAD)
    assert event.object_ids == [str(setting["export"].pk)]


def test_an_expired_archive_answers_410(tenant, admin_client, setting):
    from django.utils import timezone

    with tenant_scope(tenant):
        ResearchExport.objects.filter(pk=setting["export"].pk).update(expires_at=timezone.now())

    response = admin_client.get(reverse("research-export-file", args=[tenant.slug, setting["export"].pk]))

    assert response.status_code == 410


def test_device_rows_are_added_and_removed_audited(tenant, admin_client):
    url = reverse("research-device-masks", args=[tenant.slug])

    bad = admin_client.post(url, {"manufacturer": "ACME", "model": "US-1", "rectangles": "1, 2, 3"})
    added = admin_client.post(url, {"manufacturer": "ACME", "model": "US-1", "rectangles": "0, 0, 640, 40"})

    assert bad.status_code == 400 and b"Line 1" in bad.content
    assert added.status_code == 302
    with tenant_scope(tenant):
        mask = DeviceMask.objects.get()
    assert mask.rectangles == [[0, 0, 640, 40]]
    admin_client.post(reverse("research-device-mask-delete", args=[tenant.slug, mask.pk]))
    with tenant_scope(tenant):
        assert not DeviceMask.objects.exists()
    assert (
        len(events(tenant, AuditAction.DEVICE_MASK_SAVED))
        == len(events(tenant, AuditAction.DEVICE_MASK_REMOVED))
        == 1
    )


# --- The study's de-identified download --------------------------------------------------------------------


def test_the_dashboard_links_the_research_pages_for_research_managers_only(tenant, member_factory):
    url = reverse("clinic-dashboard", args=[tenant.slug])
    projects = reverse("research-projects", args=[tenant.slug])

    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST)).get(url)
    technologist = signed_in(member_factory(tenant, Role.TECHNOLOGIST)).get(url)

    assert f'data-testid="research-link" href="{projects}"'.encode() in radiologist.content
    assert b'data-testid="research-link"' not in technologist.content


def test_the_study_page_offers_the_de_identified_download_to_research_managers_only(
    tenant, member_factory, consenting
):
    ct = consenting("CT_small.dcm")
    url = reverse("study-detail", args=[tenant.slug, ct.StudyInstanceUID])

    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST)).get(url)
    technologist = signed_in(member_factory(tenant, Role.TECHNOLOGIST)).get(url)

    assert b'data-testid="download-deidentified"' in radiologist.content
    assert b'data-testid="download-deidentified"' not in technologist.content


def test_without_research_consent_the_download_is_refused_with_the_reason(
    tenant, admin, admin_client, research_text
):
    ct = ingest_sample(tenant, "CT_small.dcm")
    url = reverse("study-deidentified-download", args=[tenant.slug, ct.StudyInstanceUID])

    response = admin_client.post(url, {"options": []})

    assert response.status_code == 400
    assert "has not given consent to “research use of my images" in response.content.decode()
    with tenant_scope(tenant):
        assert not DownloadJob.objects.exists()


def build(tenant, client, url: str, form: dict) -> tuple[DownloadJob, list[pydicom.Dataset]]:
    """Ask for the de-identified download, build it as the worker would, and take the file."""
    started = client.post(url, form)
    assert started.status_code == 302, started.content
    with tenant_scope(tenant):
        job = DownloadJob.objects.get(pk=started["Location"].rstrip("/").rsplit("/", 1)[1])
        downloads.build_download(str(job.pk))
        job.refresh_from_db()
    assert job.state == DownloadJob.State.READY, job.error
    status = client.get(started["Location"] + "status/").json()
    response = client.get(status["file_url"])
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body(response))) as archive:
        return job, [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist()]


def test_an_ad_hoc_download_is_de_identified_and_cannot_be_linked_to_another(
    tenant, admin_client, consenting
):
    ct = consenting("CT_small.dcm")
    url = reverse("study-deidentified-download", args=[tenant.slug, ct.StudyInstanceUID])

    job, [first] = build(tenant, admin_client, url, {"options": ["retain-long-modified-dates"]})
    _, [second] = build(tenant, admin_client, url, {"options": ["retain-long-modified-dates"]})

    assert first.PatientIdentityRemoved == "YES" and "CompressedSamples" not in str(first.PatientName)
    assert first.StudyInstanceUID != second.StudyInstanceUID and first.PatientID != second.PatientID
    assert job.format == DownloadJob.Format.DEIDENTIFIED_DICOM_ZIP
    assert job.deid_report["instances"] == 1 and job.deid_report["options"] == ["retain-long-modified-dates"]
    transfers = events(tenant, AuditAction.DEIDENTIFIED_DOWNLOAD)
    assert len(transfers) == 2 and transfers[0].object_ids == [ct.StudyInstanceUID]
    assert not events(tenant, AuditAction.DOWNLOAD)


def test_a_download_with_a_project_takes_its_pseudonyms(tenant, admin, admin_client, setting):
    url = reverse("study-deidentified-download", args=[tenant.slug, setting["ct"].StudyInstanceUID])

    _, [downloaded] = build(tenant, admin_client, url, {"project": setting["project"].pk})

    from tests.research.conftest import archive_files

    [exported] = archive_files(setting["export"])
    assert downloaded.SOPInstanceUID == exported.SOPInstanceUID


def test_a_consent_withdrawn_before_the_build_fails_the_download(tenant, admin, admin_client, consenting):
    ct = consenting("CT_small.dcm")
    started = admin_client.post(
        reverse("study-deidentified-download", args=[tenant.slug, ct.StudyInstanceUID]), {"options": []}
    )
    decide(tenant, admin, ct, grant=False)

    with tenant_scope(tenant):
        job = downloads.build_download(started["Location"].rstrip("/").rsplit("/", 1)[1])

    assert job.state == DownloadJob.State.FAILED and "has not given consent" in job.error


def test_the_identified_download_page_does_not_offer_the_de_identified_format(
    tenant, admin_client, consenting
):
    ct = consenting("CT_small.dcm")
    url = reverse("study-download", args=[tenant.slug, ct.StudyInstanceUID])

    page = admin_client.get(url)
    posted = admin_client.post(url, {"format": "deid_dicom_zip"})

    assert b"deid_dicom_zip" not in page.content and posted.status_code == 400


def test_platform_operators_read_research_rows_in_admin_without_any_secret(tenant, setting):
    from tests.factories import UserFactory

    operator = signed_in(UserFactory(is_superuser=True, is_staff=True))
    project, export = setting["project"], setting["export"]
    urls = [
        reverse("admin:research_researchproject_changelist"),
        reverse("admin:research_researchproject_change", args=[project.pk]),
        reverse("admin:research_researchexport_change", args=[export.pk]),
        reverse("admin:research_devicemask_changelist"),
    ]

    for url in urls:
        response = operator.get(url)
        assert response.status_code == 200, url
        assert b"secret_sealed" not in response.content and b"archive_key_sealed" not in response.content
