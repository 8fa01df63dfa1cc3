"""A share link's visitor on DICOMweb and the viewer: the link's study and nothing else, reading only,
until the link ends (issue 6; DESIGN.md, Access)."""

import json

import pytest
from django.contrib.auth.hashers import make_password
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from imaging.models import Instance, Study
from portal.sharing.links.services import VISITOR_ACTOR_ROLE
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import post, related_body, sample, stow_url
from tests.dicomweb.wado import ALL_SYNTAXES, ingest_sample, instance_path, parts
from tests.factories import ShareLinkFactory, StudyFactory

PIN = "553311"
STUDY_UID = "0020000D"


@pytest.fixture
def two_studies_of_one_patient(tenant):
    """A CT and an MR, both made the same patient's: the link shares the CT only."""
    ct, mr = ingest_sample(tenant, "CT_small.dcm"), ingest_sample(tenant, "MR_small.dcm")
    with tenant_scope(tenant):
        ct_study = Study.objects.get(study_instance_uid=ct.StudyInstanceUID)
        Study.objects.filter(study_instance_uid=mr.StudyInstanceUID).update(patient=ct_study.patient)
    return ct, mr, ct_study


@pytest.fixture
def link(tenant, two_studies_of_one_patient):
    ct_study = two_studies_of_one_patient[2]
    return ShareLinkFactory(tenant=tenant, studies=[ct_study], pin_hash=make_password(PIN))


@pytest.fixture
def visitor(client, link):
    response = client.post(reverse("share-link-open", kwargs={"token": link.token}), {"answer": PIN})
    assert response.status_code == 302
    return client


def qido_studies(client, slug: str = "alpha", **params):
    return client.get(f"/dicomweb/{slug}/studies", params, headers={"Accept": "application/dicom+json"})


def study_uids(response) -> list[str]:
    return [row[STUDY_UID]["Value"][0] for row in json.loads(response.content)]


def revoke(link) -> None:
    with tenant_scope(link.tenant):
        ShareLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())


def test_qido_finds_the_links_study_and_not_the_patients_other_one(visitor, two_studies_of_one_patient):
    ct, mr, _ = two_studies_of_one_patient

    response = qido_studies(visitor)
    by_patient = qido_studies(visitor, PatientID=ct.PatientID)
    by_uid = qido_studies(visitor, StudyInstanceUID=mr.StudyInstanceUID)

    assert response.status_code == 200
    assert study_uids(response) == [ct.StudyInstanceUID]
    assert study_uids(by_patient) == [ct.StudyInstanceUID]
    assert study_uids(by_uid) == []
    query = AuditEvent.objects.filter(action=AuditAction.QUERY).first()
    assert query.actor is None and query.actor_role == VISITOR_ACTOR_ROLE


def test_wado_retrieves_the_links_study_and_404s_the_other(visitor, tenant, two_studies_of_one_patient):
    ct, mr, _ = two_studies_of_one_patient

    shared = visitor.get(instance_path(tenant, ct), HTTP_ACCEPT=ALL_SYNTAXES)
    metadata = visitor.get(f"/dicomweb/alpha/studies/{ct.StudyInstanceUID}/metadata")
    other = visitor.get(instance_path(tenant, mr), HTTP_ACCEPT=ALL_SYNTAXES)
    other_study = visitor.get(f"/dicomweb/alpha/studies/{mr.StudyInstanceUID}/metadata")

    assert shared.status_code == 200 and len(parts(shared)) == 1
    assert metadata.status_code == 200
    assert other.status_code == other_study.status_code == 404
    retrieve = AuditEvent.objects.filter(action=AuditAction.RETRIEVE).first()
    assert retrieve.actor_role == VISITOR_ACTOR_ROLE
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED)
    assert {event.details.get("reason") for event in denied} == {"not_visible"}


def test_the_visitor_cannot_store(visitor, tenant, link):
    with tenant_scope(tenant):
        before = Instance.objects.count()

    response = post(visitor, stow_url("alpha"), related_body([sample("CT_small.dcm")]))
    into_study = post(visitor, stow_url("alpha", "1.2.3.4"), related_body([sample("MR_small.dcm")]))

    assert response.status_code == into_study.status_code == 404
    with tenant_scope(tenant):
        assert Instance.objects.count() == before


def test_after_revocation_the_very_next_qido_and_wado_answer_404(
    visitor, tenant, link, two_studies_of_one_patient
):
    ct = two_studies_of_one_patient[0]
    assert qido_studies(visitor).status_code == 200

    revoke(link)

    assert qido_studies(visitor).status_code == 404
    assert visitor.get(instance_path(tenant, ct), HTTP_ACCEPT=ALL_SYNTAXES).status_code == 404
    assert visitor.get(reverse("viewer-config", kwargs={"tenant_slug": "alpha"})).status_code == 404


def test_an_expired_link_reads_nothing_more(visitor, link):
    with tenant_scope(link.tenant):
        ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())

    assert qido_studies(visitor).status_code == 404


def test_the_visitor_enters_no_other_clinic(visitor, other_tenant):
    StudyFactory(tenant=other_tenant)

    assert qido_studies(visitor, slug=other_tenant.slug).status_code == 404
    assert visitor.get(reverse("viewer-config", kwargs={"tenant_slug": other_tenant.slug})).status_code == 404


def test_the_visitor_reaches_the_viewer_of_the_links_clinic(visitor):
    config = visitor.get(reverse("viewer-config", kwargs={"tenant_slug": "alpha"}))
    home = visitor.get(reverse("viewer-home"))

    assert config.status_code == 200 and b"/dicomweb/alpha" in config.content
    assert home.status_code == 302 and home["Location"] == reverse("share-link-home")


def test_without_a_link_dicomweb_still_asks_for_credentials(client, tenant, two_studies_of_one_patient):
    response = qido_studies(client)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
