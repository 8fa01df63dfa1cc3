"""What a share opens and for how long: the doctor's worklist and study page, DICOMweb, revocation and
expiry applying to the very next request, and 404 for everyone else (portal.sharing)."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.models import Study
from portal.sharing.models import Share
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import body, ingest_sample
from tests.factories import PatientFactory, ShareFactory, ShareLinkFactory, StudyFactory, UserFactory


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant, name="Doe^Jane")


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient, description="CT HEAD", modalities_in_study="CT")


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


@pytest.fixture
def doctor(tenant, member_factory):
    return member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))


@pytest.fixture
def owner(tenant, patient, member_factory):
    """The patient's own portal account."""
    user = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = user
        patient.save()
    return user


def study_url(study) -> str:
    return reverse("study-detail", args=[study.tenant.slug, study.study_instance_uid])


def revoke_url(share) -> str:
    return reverse("share-revoke", args=[share.tenant.slug, share.pk])


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reloaded(share) -> Share:
    with tenant_scope(share.tenant):
        return Share.objects.get(pk=share.pk)


def worklist_rows(client) -> list:
    return client.get(reverse("shared-worklist")).context["rows"]


# The worklist


def test_the_worklist_shows_shares_of_every_clinic_marked_new_until_opened(
    tenant, other_tenant, study, radiologist, doctor, member_factory
):
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=doctor)
    elsewhere = StudyFactory(tenant=other_tenant, description="MR KNEE", modalities_in_study="MR")
    ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist, allow_download=True)
    ShareFactory(tenant=other_tenant, study=elsewhere, grantee=doctor)
    StudyFactory(tenant=tenant, description="NOT SHARED")
    client = client_of(doctor)

    response = client.get(reverse("shared-worklist"))

    page = response.content.decode()
    assert {(row.tenant, row.study, row.is_new) for row in response.context["rows"]} == {
        (tenant, study, True),
        (other_tenant, elsewhere, True),
    }
    for text in ("Alpha Imaging", "Bravo Radiology", "Doe^Jane", "CT HEAD", "MR KNEE", radiologist.email):
        assert text in page
    assert "NOT SHARED" not in page
    assert page.count('data-testid="new-share"') == 2
    viewer = (
        reverse("viewer-route", args=[tenant.slug, "viewer"])
        + f"?StudyInstanceUIDs={study.study_instance_uid}"
    )
    assert viewer in page
    assert study_url(study) in page
    listed = AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY_LIST, actor=doctor)
    assert {(event.tenant, tuple(event.object_ids)) for event in listed} == {
        (tenant, (study.study_instance_uid,)),
        (other_tenant, (elsewhere.study_instance_uid,)),
    }

    assert client.get(study_url(study)).status_code == 200

    assert {(row.study, row.is_new) for row in worklist_rows(client)} == {(study, False), (elsewhere, True)}


def test_a_share_of_a_patient_lists_each_of_their_studies(tenant, patient, study, doctor):
    later = StudyFactory(tenant=tenant, patient=patient, description="CT CHEST")
    ShareFactory(tenant=tenant, study=None, patient=patient, grantee=doctor)
    client = client_of(doctor)

    assert {row.study for row in worklist_rows(client)} == {study, later}
    client.get(study_url(later))
    assert {row.is_new for row in worklist_rows(client)} == {False}


def test_the_worklist_of_someone_without_shares_is_empty(tenant, study, member_factory):
    ShareFactory(tenant=tenant, study=study)  # someone else's
    page = client_of(member_factory(tenant, Role.REFERRING_PHYSICIAN)).get(reverse("shared-worklist"))

    assert 'data-testid="worklist-empty"' in page.content.decode()


def test_the_worklist_needs_a_signed_in_user(client):
    response = client.get(reverse("shared-worklist"))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_opening_the_study_marks_only_the_doctors_own_share_seen(tenant, study, doctor, member_factory):
    mine = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    colleague = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    theirs = ShareFactory(tenant=tenant, study=study, grantee=colleague)

    client_of(doctor).get(study_url(study))

    assert reloaded(mine).seen_at is not None
    assert reloaded(theirs).seen_at is None


# Revocation and expiry, on the next request


def test_revocation_refuses_the_doctors_very_next_dicomweb_request(tenant, radiologist, doctor):
    dataset = ingest_sample(tenant, "CT_small.dcm")
    with tenant_scope(tenant):
        study = Study.objects.get(study_instance_uid=dataset.StudyInstanceUID)
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)
    doctor_client = client_of(doctor)
    base = f"/dicomweb/{tenant.slug}/studies/{study.study_instance_uid}"

    series = doctor_client.get(f"{base}/series", HTTP_ACCEPT="application/dicom+json")
    metadata = doctor_client.get(f"{base}/metadata", HTTP_ACCEPT="application/dicom+json")
    assert series.status_code == 200 and len(series.json()) == 1
    assert metadata.status_code == 200 and len(json.loads(body(metadata))) == 1

    revoked = client_of(radiologist).post(revoke_url(share), {"next": study_url(study)})
    assert revoked.status_code == 302 and revoked.url == study_url(study)

    series = doctor_client.get(f"{base}/series", HTTP_ACCEPT="application/dicom+json")
    metadata = doctor_client.get(f"{base}/metadata", HTTP_ACCEPT="application/dicom+json")
    assert series.status_code == 404
    assert metadata.status_code == 404
    assert doctor_client.get(study_url(study)).status_code == 404
    assert worklist_rows(doctor_client) == []
    event = AuditEvent.objects.get(action=AuditAction.SHARE_REVOKED)
    assert (event.actor, event.tenant, event.actor_role) == (radiologist, tenant, Role.RADIOLOGIST)
    assert (event.object_type, event.object_ids) == ("share", [str(share.pk)])
    assert event.details["by"] == "sharer" and event.details["grantee"] == str(doctor.pk)
    denied = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, actor=doctor, tenant=tenant)
    assert study.study_instance_uid in {uid for event in denied for uid in event.object_ids}


def test_an_expired_share_opens_nothing(tenant, study, doctor):
    ShareFactory(tenant=tenant, study=study, grantee=doctor, expires_at=timezone.now() - timedelta(seconds=1))
    client = client_of(doctor)

    assert client.get(study_url(study)).status_code == 404
    metadata = f"/dicomweb/{tenant.slug}/studies/{study.study_instance_uid}/metadata"
    assert client.get(metadata, HTTP_ACCEPT="application/dicom+json").status_code == 404
    assert worklist_rows(client) == []


def test_a_share_that_ends_while_the_doctor_works_ends_at_the_next_page(tenant, study, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    client = client_of(doctor)
    assert client.get(study_url(study)).status_code == 200

    with tenant_scope(tenant):
        Share.objects.filter(pk=share.pk).update(expires_at=timezone.now())

    assert client.get(study_url(study)).status_code == 404


def test_the_patient_ends_a_share_of_their_own_study(tenant, study, radiologist, doctor, owner):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)
    client = client_of(owner)

    page = client.get(study_url(study)).content.decode()
    assert revoke_url(share) in page
    response = client.post(revoke_url(share), {"next": study_url(study)})

    assert response.status_code == 302
    assert reloaded(share).revoked_by == owner
    event = AuditEvent.objects.get(action=AuditAction.SHARE_REVOKED)
    assert (event.actor, event.actor_role, event.details["by"]) == (owner, Role.PATIENT, "patient")
    assert client_of(doctor).get(study_url(study)).status_code == 404


def test_a_clinic_admin_ends_anyones_share(tenant, study, radiologist, doctor, member_factory):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)
    admin = member_factory(tenant, Role.TENANT_ADMIN)

    client_of(admin).post(revoke_url(share))

    assert reloaded(share).revoked_by == admin
    assert AuditEvent.objects.get(action=AuditAction.SHARE_REVOKED).details["by"] == "clinic_admin"


@pytest.mark.parametrize("who", ["other radiologist", "grantee", "other patient", "other clinic admin"])
def test_who_may_not_end_a_share_gets_404_and_the_share_lasts(
    tenant, other_tenant, study, radiologist, doctor, member_factory, who
):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)
    user = {
        "other radiologist": lambda: member_factory(tenant, Role.RADIOLOGIST),
        "grantee": lambda: doctor,
        "other patient": lambda: member_factory(tenant, Role.PATIENT),
        "other clinic admin": lambda: member_factory(other_tenant, Role.TENANT_ADMIN),
    }[who]()

    response = client_of(user).post(revoke_url(share))

    assert response.status_code == 404
    assert reloaded(share).is_active()
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_REVOKED).exists()
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, details__route="share-revoke").exists()


def test_a_share_of_another_clinic_is_not_found_through_ones_own(
    tenant, other_tenant, study, doctor, member_factory
):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    admin = member_factory(other_tenant, Role.TENANT_ADMIN)

    response = client_of(admin).post(reverse("share-revoke", args=[other_tenant.slug, share.pk]))

    assert response.status_code == 404
    assert reloaded(share).is_active()


def test_revoking_is_a_post_with_a_csrf_token(tenant, study, radiologist, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)
    client = Client(enforce_csrf_checks=True)
    client.force_login(radiologist)

    assert client.get(revoke_url(share)).status_code == 405
    assert client.post(revoke_url(share)).status_code == 403
    assert reloaded(share).is_active()


def test_revoking_an_ended_share_changes_nothing(tenant, study, radiologist, doctor):
    share = ShareFactory(
        tenant=tenant, study=study, grantee=doctor, granted_by=radiologist, revoked_at=timezone.now()
    )

    client_of(radiologist).post(revoke_url(share))

    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_REVOKED).exists()


def test_the_redirect_after_revoking_stays_on_this_site(tenant, study, radiologist, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)

    response = client_of(radiologist).post(revoke_url(share), {"next": "https://evil.example/phish"})

    assert response.url == study_url(study)


# Another clinic


def test_a_doctor_with_a_share_in_one_clinic_gets_404_in_another(
    tenant, other_tenant, study, doctor, member_factory
):
    ShareFactory(tenant=tenant, study=study, grantee=doctor)
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=doctor)
    same_uid_elsewhere = StudyFactory(tenant=other_tenant, study_instance_uid=study.study_instance_uid)
    client = client_of(doctor)

    assert client.get(study_url(same_uid_elsewhere)).status_code == 404
    metadata = f"/dicomweb/{other_tenant.slug}/studies/{study.study_instance_uid}/metadata"
    assert client.get(metadata, HTTP_ACCEPT="application/dicom+json").status_code == 404
    assert {row.tenant for row in worklist_rows(client)} == {tenant}


# The "who has access" panel


def test_the_study_page_says_who_has_access(tenant, study, radiologist, doctor, member_factory):
    member_factory(tenant, Role.TENANT_ADMIN)
    member_factory(tenant, Role.BILLING)
    ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist, allow_download=True)
    ShareLinkFactory(tenant=tenant, studies=[study], label="Second opinion", use_limit=5, use_count=2)
    ShareLinkFactory(
        tenant=tenant, studies=[study], label="Old link", expires_at=timezone.now() - timedelta(days=1)
    )

    response = client_of(radiologist).get(study_url(study))

    page = response.content.decode()
    panel = response.context["access"]
    assert panel.clinic_wide == [("Clinic admin", 1), ("Radiologist", 1)]
    ((row),) = panel.shares
    assert (row.share.grantee, row.may_revoke) == (doctor, True)
    assert 'data-testid="access-panel"' in page and doctor.email in page and "Revoke" in page
    assert {(row.link.label, row.state) for row in response.context["share_links"]} == {
        ("Second opinion", "active"),
        ("Old link", "expired"),
    }
    assert "2 / 5" in page
    assert reverse("study-share", args=[tenant.slug, study.study_instance_uid]) in page


def test_a_sharer_who_did_not_make_the_share_sees_it_without_a_revoke_button(
    tenant, study, radiologist, doctor, member_factory
):
    ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=radiologist)

    response = client_of(member_factory(tenant, Role.RADIOLOGIST)).get(study_url(study))

    ((row),) = response.context["access"].shares
    assert not row.may_revoke
    assert 'data-testid="revoke-share"' not in response.content.decode()


def test_the_doctor_does_not_see_who_else_has_access(tenant, study, doctor, member_factory):
    ShareFactory(tenant=tenant, study=study, grantee=doctor)
    colleague = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    ShareFactory(tenant=tenant, study=study, grantee=colleague)

    response = client_of(doctor).get(study_url(study))

    assert response.context["access"] is None
    assert colleague.email not in response.content.decode()
