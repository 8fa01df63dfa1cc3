"""The clinic's side of consents (portal.consents): texts and settings on the clinic's consents page,
the consent panel of the study page, a signed paper form recorded by an admin, and sharing refused
without consent when the clinic requires it."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.consents import services
from portal.consents.models import ConsentDecision, ConsentPurpose, ConsentRequirement, ConsentText
from portal.sharing.models import Share
from portal.sharing.services import ShareRefused, share_with_doctor
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, StudyFactory, UserFactory

SHARING = ConsentPurpose.SHARE_WITH_NAMED_DOCTORS
RESEARCH = ConsentPurpose.RESEARCH_DEIDENTIFIED


@pytest.fixture
def admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def patient_user(tenant, member_factory):
    return member_factory(tenant, Role.PATIENT)


@pytest.fixture
def patient(tenant, patient_user):
    return PatientFactory(tenant=tenant, account=patient_user)


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient)


@pytest.fixture
def doctor(tenant, member_factory):
    return member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))


def study_url(study) -> str:
    return reverse("study-detail", args=[study.tenant.slug, study.study_instance_uid])


def share(client, study, email="dr.grey@example.org"):
    return client.post(
        reverse("study-share", args=[study.tenant.slug, study.study_instance_uid]),
        {"recipient": "member", "email": email, "scope": "study", "last_day": _in_days(14)},
    )


def _in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def require_consent_to_share(tenant, admin) -> None:
    services.set_requirements(tenant=tenant, sharing_requires_consent=True, actor=admin)


def test_a_clinic_admin_publishes_a_text_from_the_consents_page(client, tenant, admin):
    client.force_login(admin)
    url = reverse("clinic-consents", args=[tenant.slug])

    response = client.post(url, {"purpose": RESEARCH, "text": "Words v1."})
    client.post(url, {"purpose": RESEARCH, "text": "Words v2."})
    page = client.get(url)

    assert response.status_code == 302
    with tenant_scope(tenant):
        assert list(ConsentText.objects.values_list("version", "text")) == [
            (2, "Words v2."),
            (1, "Words v1."),
        ]
    assert "Words v1." in page.content.decode() and "Words v2." in page.content.decode()
    event = (
        AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE, object_type="consent_text")
        .order_by("pk")
        .last()
    )
    assert event.details == {"purpose": RESEARCH.value, "version": 2, "change": "published"}


def test_an_empty_text_is_refused_with_the_reason(client, tenant, admin):
    client.force_login(admin)

    response = client.post(
        reverse("clinic-consents", args=[tenant.slug]), {"purpose": RESEARCH, "text": "  "}
    )

    assert response.status_code == 400
    with tenant_scope(tenant):
        assert not ConsentText.objects.exists()


def test_a_clinic_admin_sets_whether_sharing_needs_consent(client, tenant, admin):
    client.force_login(admin)
    url = reverse("clinic-consent-requirements", args=[tenant.slug])

    client.post(url, {"sharing_requires_consent": "on"})
    with tenant_scope(tenant):
        assert ConsentRequirement.objects.get().sharing_requires_consent
    client.post(url, {})
    with tenant_scope(tenant):
        assert not ConsentRequirement.objects.get().sharing_requires_consent


@pytest.mark.parametrize(
    "role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.BILLING, Role.AUDITOR, Role.PATIENT]
)
def test_only_clinic_admins_reach_the_consents_pages(client, tenant, member_factory, role):
    client.force_login(member_factory(tenant, role))

    assert client.get(reverse("clinic-consents", args=[tenant.slug])).status_code == 404
    assert client.post(reverse("clinic-consent-requirements", args=[tenant.slug]), {}).status_code == 404


def test_staff_and_the_patient_see_the_consent_state_on_the_study_page(
    client, tenant, admin, study, patient, patient_user, member_factory
):
    services.publish_text(tenant=tenant, purpose=RESEARCH, text="Research words.", actor=admin)
    services.decide(patient=patient, purpose=RESEARCH, grant=True, version=1, actor=patient_user)

    for viewer in (member_factory(tenant, Role.RADIOLOGIST), admin, patient_user):
        client.force_login(viewer)
        page = client.get(study_url(study))
        rows = {state.purpose: state for state in page.context["consents"]}
        assert rows[RESEARCH].granted
        assert rows[SHARING].decision is None
        assert 'data-testid="consents-panel"' in page.content.decode()


def test_a_referring_doctor_with_a_share_does_not_see_the_consent_panel(client, tenant, admin, study, doctor):
    client.force_login(admin)
    share(client, study)
    client.force_login(doctor)

    page = client.get(study_url(study))

    assert page.status_code == 200
    assert page.context["consents"] is None
    assert 'data-testid="consents-panel"' not in page.content.decode()


def test_an_admin_records_a_signed_paper_form_from_the_study_page(client, tenant, admin, study, patient):
    services.publish_text(tenant=tenant, purpose=SHARING, text="Share words.", actor=admin)
    client.force_login(admin)
    url = reverse("study-consent-record", args=[tenant.slug, study.study_instance_uid])

    response = client.post(
        url, {"patient": patient.pk, "purpose": SHARING, "decision": "grant", "version": 1}
    )

    assert response.status_code == 302
    assert services.has_consent(patient, SHARING)
    with tenant_scope(tenant):
        assert ConsentDecision.objects.get().decided_by == admin
    event = AuditEvent.objects.filter(action=AuditAction.CONSENT_GRANTED).order_by("pk").last()
    assert (event.actor, event.actor_role, event.object_ids) == (admin, Role.TENANT_ADMIN, [str(patient.pk)])


def test_a_radiologist_cannot_record_a_paper_form(client, tenant, admin, study, patient, member_factory):
    services.publish_text(tenant=tenant, purpose=SHARING, text="Share words.", actor=admin)
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    url = reverse("study-consent-record", args=[tenant.slug, study.study_instance_uid])

    response = client.post(
        url, {"patient": patient.pk, "purpose": SHARING, "decision": "grant", "version": 1}
    )

    assert response.status_code == 404
    assert not services.has_consent(patient, SHARING)


def test_sharing_is_allowed_without_consent_when_the_clinic_does_not_require_it(client, admin, study, doctor):
    client.force_login(admin)

    assert share(client, study).status_code == 302


def test_sharing_is_refused_without_consent_when_required_and_allowed_after_the_grant(
    client, tenant, admin, study, patient, patient_user, doctor
):
    services.publish_text(tenant=tenant, purpose=SHARING, text="Share words.", actor=admin)
    require_consent_to_share(tenant, admin)
    client.force_login(admin)

    refused = share(client, study)

    assert refused.status_code == 200  # the form again, with the reason
    errors = " ".join(str(error) for error in refused.context["form"].errors.values())
    assert "has not given consent" in errors
    with tenant_scope(tenant):
        assert not Share.objects.exists()

    services.decide(patient=patient, purpose=SHARING, grant=True, version=1, actor=patient_user)
    assert share(client, study).status_code == 302
    with tenant_scope(tenant):
        assert Share.objects.count() == 1


def test_sharing_is_refused_again_after_a_withdrawal(tenant, admin, study, patient, patient_user, doctor):
    services.publish_text(tenant=tenant, purpose=SHARING, text="Share words.", actor=admin)
    require_consent_to_share(tenant, admin)
    services.decide(patient=patient, purpose=SHARING, grant=True, version=1, actor=patient_user)
    services.decide(patient=patient, purpose=SHARING, grant=False, version=1, actor=patient_user)

    with pytest.raises(ShareRefused, match="has not given consent"):
        share_with_doctor(sharer=admin, study=study, email=doctor.email, last_day=_tomorrow())


def _tomorrow() -> date:
    return timezone.localdate() + timedelta(days=1)


def test_platform_operators_see_decisions_of_every_clinic_by_identifiers_only(
    client, tenant, admin, patient, patient_user
):
    services.publish_text(tenant=tenant, purpose=RESEARCH, text="Research words.", actor=admin)
    decision = services.decide(patient=patient, purpose=RESEARCH, grant=True, version=1, actor=patient_user)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    listing = client.get(reverse("admin:consents_consentdecision_changelist"))
    detail = client.get(reverse("admin:consents_consentdecision_change", args=[decision.pk]))
    texts = client.get(reverse("admin:consents_consenttext_changelist"))

    assert (listing.status_code, detail.status_code, texts.status_code) == (200, 200, 200)
    assert patient.name.split("^")[0] not in listing.content.decode() + detail.content.decode()
