"""An export's destinations other than the archive: another clinic of the platform, through its normal
ingestion, and a DICOMweb archive over STOW-RS (this project's own endpoint, on the live server)."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from accounts.tokens import issue_token
from imaging.ingest.index import index_jobs
from imaging.models import IngestJob, Study
from imaging.research import exports, services
from imaging.research.destinations import stow_token as stow_token_of
from imaging.research.models import ResearchExport, ResearchProject
from imaging.research.selectors import StudyQuery
from portal.tenancy import tenant_scope
from tests.factories import MembershipFactory
from tests.ingest.test_pipeline import stored_bytes
from tests.research.conftest import make_project, run_export

TENANT = ResearchProject.Destination.TENANT
DICOMWEB = ResearchProject.Destination.DICOMWEB


@pytest.fixture
def manages_both(admin, other_tenant):
    """The admin also manages research in the receiving clinic: naming it as a destination is theirs to do."""
    MembershipFactory(user=admin, tenant=other_tenant, role=Role.TENANT_ADMIN)
    return admin


@pytest.mark.django_db
def test_another_clinic_receives_the_export_encrypted_indexed_and_its_own(
    tenant, other_tenant, manages_both, consenting, member_factory
):
    ct = consenting("CT_small.dcm")
    project = make_project(tenant, manages_both, destination=TENANT, destination_tenant=other_tenant)

    export = run_export(project, manages_both)

    with tenant_scope(other_tenant):
        queued = [str(pk) for pk in IngestJob.objects.filter(state="queued").values_list("pk", flat=True)]
        assert len(queued) == 1
        index_jobs(other_tenant, queued)
        [study] = Study.objects.select_related("patient").all()
    with tenant_scope(tenant):
        keys = services.project_keys(project)
    assert study.study_instance_uid == keys.uid(ct.StudyInstanceUID)
    assert study.patient.patient_id == keys.patient_id(ct.PatientID)
    assert export.report["instances"] == 1 and export.report["refused_total"] == 0
    blobs = stored_bytes(other_tenant)
    assert blobs and not any(b"CompressedSamples" in blob or b"DICM" in blob for blob in blobs)
    receiving, sending = Client(), Client()
    receiving.force_login(member_factory(other_tenant, Role.RADIOLOGIST))
    sending.force_login(member_factory(tenant, Role.RADIOLOGIST))
    url = reverse("study-detail", args=[other_tenant.slug, study.study_instance_uid])
    assert receiving.get(url).status_code == 200
    assert sending.get(url).status_code == 404
    assert (
        sending.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid])).status_code == 404
    )


@pytest.mark.django_db
def test_the_destination_clinic_must_be_another_one_where_the_user_manages_research(
    tenant, other_tenant, admin
):
    with pytest.raises(services.ProjectRefused, match="another clinic"):
        make_project(tenant, admin, destination=TENANT, destination_tenant=tenant)
    with pytest.raises(services.ProjectRefused, match="do not manage research"):
        make_project(tenant, admin, destination=TENANT, destination_tenant=other_tenant)
    assert services.destination_clinics(admin, tenant) == []


@pytest.fixture
def stow_token(other_tenant, member_factory) -> str:
    return issue_token(member_factory(other_tenant, Role.TECHNOLOGIST), other_tenant)[1]


@pytest.mark.django_db(transaction=True)
def test_a_dicomweb_destination_receives_one_stow_rs_request_per_study(
    live_server, settings, tenant, other_tenant, admin, consenting, stow_token
):
    # The live server listens on loopback, which a clinic's outbound address may not be in production.
    settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = True
    ct = consenting("CT_small.dcm")
    consenting("MR_small.dcm")
    project = make_project(
        tenant,
        admin,
        destination=DICOMWEB,
        stow_url=f"{live_server.url}/dicomweb/{other_tenant.slug}/studies",
        stow_token=stow_token,
    )

    export = run_export(project, admin)

    with tenant_scope(tenant):
        keys = services.project_keys(project)
    with tenant_scope(other_tenant):
        received = list(IngestJob.objects.filter(source=IngestJob.Source.STOW).order_by("sop_instance_uid"))
    assert len(received) == 2 and all(job.state == "queued" for job in received)
    assert keys.uid(ct.SOPInstanceUID) in {job.sop_instance_uid for job in received}
    assert export.report["instances"] == 2 and export.report["refused_total"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_dicomweb_destination_that_refuses_the_token_fails_the_export_with_the_reason(
    live_server, settings, tenant, other_tenant, admin, consenting
):
    settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = True
    consenting("CT_small.dcm")
    project = make_project(
        tenant,
        admin,
        destination=DICOMWEB,
        stow_url=f"{live_server.url}/dicomweb/{other_tenant.slug}/studies",
        stow_token="not-a-token",
    )

    with tenant_scope(tenant):
        export = exports.start_export(project=project, query=StudyQuery(), actor=admin)
        exports.run_export(str(export.pk))
        export.refresh_from_db()

    assert export.state == ResearchExport.State.FAILED
    assert export.error == "The DICOMweb archive answered HTTP 401."


@pytest.mark.django_db
def test_a_dicomweb_destination_on_a_local_address_is_refused(tenant, admin, consenting):
    consenting("CT_small.dcm")
    project = make_project(tenant, admin, destination=DICOMWEB, stow_url="http://127.0.0.1:9/studies")

    with tenant_scope(tenant):
        export = exports.start_export(project=project, query=StudyQuery(), actor=admin)
        exports.run_export(str(export.pk))
        export.refresh_from_db()

    assert export.state == ResearchExport.State.FAILED
    assert export.error.startswith("The STOW-RS address is refused")


@pytest.mark.django_db
def test_the_bearer_token_is_stored_sealed_and_never_in_clear(tenant, admin):
    project = make_project(
        tenant,
        admin,
        destination=DICOMWEB,
        stow_url="https://archive.example/studies",
        stow_token="s3cret-token",
    )

    with tenant_scope(tenant):
        stored = ResearchProject.objects.get(pk=project.pk)
        assert b"s3cret-token" not in bytes(stored.stow_token_sealed)
        assert stow_token_of(stored) == "s3cret-token"
