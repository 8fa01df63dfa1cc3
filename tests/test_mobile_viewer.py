"""The light viewer's page (portal/mobile_viewer): who may open it, what it is told, what is audited."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope
from tests.factories import (
    InstanceFactory,
    PatientFactory,
    SeriesFactory,
    ShareFactory,
    ShareLinkFactory,
    StudyFactory,
    UserFactory,
)


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant, name="Doe^Jane")


@pytest.fixture
def study(tenant, patient):
    """Two series, listed out of order: a multi-frame MR (number 2), and a CT (number 1) of two slices and a
    report without an image."""
    study = StudyFactory(tenant=tenant, patient=patient, description="CT HEAD")
    mr = SeriesFactory(tenant=tenant, study=study, series_number=2, modality="MR")
    ct = SeriesFactory(tenant=tenant, study=study, series_number=1, modality="CT")
    InstanceFactory(tenant=tenant, series=mr, instance_number=1, rows=64, columns=64, number_of_frames=10)
    InstanceFactory(
        tenant=tenant, series=ct, instance_number=2, rows=128, columns=128, sop_instance_uid="2.25.2"
    )
    InstanceFactory(
        tenant=tenant, series=ct, instance_number=1, rows=128, columns=128, sop_instance_uid="2.25.1"
    )
    InstanceFactory(
        tenant=tenant, series=ct, instance_number=3, rows=None, columns=None, sop_instance_uid="2.25.3"
    )
    return study


@pytest.fixture
def owner(tenant, patient, member_factory):
    user = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = user
        patient.save()
    return user


def light_url(study, slug: str | None = None) -> str:
    return reverse(
        "mobile-viewer",
        kwargs={"tenant_slug": slug or study.tenant.slug, "study_uid": study.study_instance_uid},
    )


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def visitor_of(link) -> Client:
    client = Client()
    assert client.post(reverse("share-link-open", kwargs={"token": link.token})).status_code == 302
    return client


def viewed(study) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY, object_ids=[study.study_instance_uid])
    )


def test_a_radiologist_gets_the_page_with_each_series_and_its_images_in_order(tenant, study, member_factory):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)

    response = client_of(radiologist).get(light_url(study))

    assert response.status_code == 200
    data = response.context["manifest"]
    assert data["studyUrl"] == f"/dicomweb/{tenant.slug}/studies/{study.study_instance_uid}"
    assert [series["number"] for series in data["series"]] == [1, 2]
    ct, mr = data["series"]
    assert [instance["uid"] for instance in ct["instances"]] == ["2.25.1", "2.25.2"]  # no report
    assert [instance["frames"] for instance in mr["instances"]] == [10]
    assert ct["thumbnail"] == f"{data['studyUrl']}/series/{ct['uid']}/thumbnail"
    page = response.content.decode()
    assert 'id="mv-data"' in page and "mobile_viewer/viewer.js" in page
    [event] = viewed(study)
    assert (event.actor, event.tenant, event.actor_role) == (radiologist, tenant, Role.RADIOLOGIST)


def test_the_page_names_no_patient_and_is_never_cached(tenant, study, member_factory):
    response = client_of(member_factory(tenant, Role.RADIOLOGIST)).get(light_url(study))

    page = response.content.decode()
    assert "Doe" not in page and "Jane" not in page and study.patient.patient_id not in page
    assert "<title>Study images · Palisade</title>" in page
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_patient_opens_their_own_study(tenant, study, owner):
    response = client_of(owner).get(light_url(study))

    assert response.status_code == 200
    assert viewed(study)[0].actor_role == Role.PATIENT


def test_a_patient_gets_404_for_another_patients_study(tenant, study, member_factory):
    other = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        study.patient.account = None
        study.patient.save()

    response = client_of(other).get(light_url(study))

    assert response.status_code == 404
    assert not viewed(study)
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, actor=other, tenant=tenant)
    assert study.study_instance_uid in {uid for event in denied for uid in event.object_ids}


def test_a_doctor_opens_a_study_shared_with_them_and_the_share_is_no_longer_new(
    tenant, study, member_factory
):
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)

    response = client_of(doctor).get(light_url(study))

    assert response.status_code == 200
    assert viewed(study)[0].actor_role == Role.REFERRING_PHYSICIAN
    with tenant_scope(tenant):
        share.refresh_from_db()
    assert share.seen_at is not None


@pytest.mark.parametrize("role", [Role.REFERRING_PHYSICIAN, Role.BILLING, Role.AUDITOR])
def test_members_without_a_right_to_the_images_get_404(tenant, study, member_factory, role):
    assert client_of(member_factory(tenant, role)).get(light_url(study)).status_code == 404
    assert not viewed(study)


def test_a_member_of_another_clinic_gets_404_as_for_a_clinic_that_does_not_exist(
    tenant, other_tenant, study, member_factory
):
    intruder = client_of(member_factory(other_tenant, Role.TENANT_ADMIN))

    assert intruder.get(light_url(study)).status_code == 404
    # The study's UID under the intruder's own clinic is no study there.
    assert intruder.get(light_url(study, slug=other_tenant.slug)).status_code == 404
    assert intruder.get(light_url(study, slug="no-such-clinic")).status_code == 404
    assert not viewed(study)


def test_an_anonymous_caller_is_sent_to_sign_in(study):
    response = Client().get(light_url(study))
    missing = Client().get(light_url(study, slug="no-such-clinic"))

    assert response.status_code == missing.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert missing["Location"].startswith(reverse("login"))


def test_a_link_visitor_opens_the_links_study_audited_as_the_link(tenant, study):
    link = ShareLinkFactory(tenant=tenant, studies=[study])
    visitor = visitor_of(link)

    response = visitor.get(light_url(study))

    assert response.status_code == 200
    assert response.context["back_url"] == reverse("share-link-home")
    [event] = viewed(study)
    assert (event.actor, event.actor_role) == (None, "share_link_visitor")
    assert event.details["share_link"] == str(link.pk)
    home = visitor.get(reverse("share-link-home")).content.decode()
    assert light_url(study) in home


def test_a_link_visitor_gets_404_for_a_study_the_link_does_not_share(tenant, study, patient):
    other = StudyFactory(tenant=tenant, patient=patient)
    visitor = visitor_of(ShareLinkFactory(tenant=tenant, studies=[study]))

    assert visitor.get(light_url(other)).status_code == 404


def test_a_link_visitor_gets_404_from_the_request_after_revocation(tenant, study):
    link = ShareLinkFactory(tenant=tenant, studies=[study])
    visitor = visitor_of(link)
    assert visitor.get(light_url(study)).status_code == 200

    with tenant_scope(tenant):
        ShareLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())

    assert visitor.get(light_url(study)).status_code == 404
    assert len(viewed(study)) == 1
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCESS_DENIED, details__share_link=str(link.pk)
    ).exists()


def test_the_study_page_links_to_the_light_viewer(tenant, study, member_factory):
    page = client_of(member_factory(tenant, Role.RADIOLOGIST)).get(
        reverse("study-detail", args=[tenant.slug, study.study_instance_uid])
    )

    assert f'href="{light_url(study)}"' in page.content.decode()


def test_only_get_and_head_are_answered(tenant, study, member_factory):
    client = client_of(member_factory(tenant, Role.RADIOLOGIST))

    assert client.post(light_url(study)).status_code == 405
