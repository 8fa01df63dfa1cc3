"""Patients' consents (portal.consents): versioned texts, grants and withdrawals kept as history, the
patient's page across clinics, and the audit trail each decision leaves."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.consents import selectors, services
from portal.consents.models import ConsentDecision, ConsentPurpose, ConsentText
from portal.tenancy import tenant_scope
from tests.factories import MembershipFactory, PatientFactory

RESEARCH = ConsentPurpose.RESEARCH_DEIDENTIFIED
SHARING = ConsentPurpose.SHARE_WITH_NAMED_DOCTORS


@pytest.fixture
def admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def patient_user(tenant, member_factory):
    return member_factory(tenant, Role.PATIENT)


@pytest.fixture
def patient(tenant, patient_user):
    return PatientFactory(tenant=tenant, name="Doe^Jane", account=patient_user)


def publish(tenant, admin, purpose=RESEARCH, text="Researchers may use my images without my name."):
    return services.publish_text(tenant=tenant, purpose=purpose, text=text, actor=admin)


def decide(client, patient, purpose, decision, version):
    return client.post(
        reverse("my-consents"),
        {"patient": patient.pk, "purpose": purpose, "decision": decision, "version": version},
    )


def decisions_of(patient) -> list[ConsentDecision]:
    with tenant_scope(patient.tenant):
        return list(ConsentDecision.objects.filter(patient=patient).select_related("text").order_by("pk"))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_publishing_again_makes_a_new_version_and_keeps_the_old_one(tenant, admin):
    first = publish(tenant, admin, text="Version one.")
    second = publish(tenant, admin, text="Version two.")

    assert (first.version, second.version) == (1, 2)
    with tenant_scope(tenant):
        assert [t.text for t in ConsentText.objects.filter(purpose=RESEARCH)] == [
            "Version two.",
            "Version one.",
        ]
        assert selectors.current_text(RESEARCH) == second


def test_a_published_text_cannot_be_edited(tenant, admin):
    text = publish(tenant, admin)
    text.text = "Something else."

    with tenant_scope(tenant), pytest.raises(ValidationError):
        text.save()


def test_only_clinic_admins_publish_texts(tenant, member_factory):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)

    with pytest.raises(services.ConsentRefused):
        publish(tenant, radiologist)


def test_a_patient_grants_then_withdraws_and_the_history_stays(client, tenant, admin, patient, patient_user):
    publish(tenant, admin)
    client.force_login(patient_user)

    assert decide(client, patient, RESEARCH, "grant", 1).status_code == 302
    assert services.has_consent(patient, RESEARCH)
    assert decide(client, patient, RESEARCH, "withdraw", 1).status_code == 302

    assert not services.has_consent(patient, RESEARCH)
    history = decisions_of(patient)
    assert [(d.granted, d.withdrawn_at is not None, d.text.version) for d in history] == [
        (True, False, 1),
        (False, True, 1),
    ]
    assert all(d.decided_by == patient_user for d in history)
    with pytest.raises(services.ConsentRequired, match="research use"):
        services.require_consent(patient, RESEARCH)


def test_the_latest_decision_wins_after_granting_again(tenant, admin, patient, patient_user):
    publish(tenant, admin)
    for grant in (True, False, True):
        services.decide(patient=patient, purpose=RESEARCH, grant=grant, version=1, actor=patient_user)

    assert services.has_consent(patient, RESEARCH)
    with tenant_scope(tenant):
        assert list(selectors.consented_patients(RESEARCH)) == [patient]
        assert list(selectors.consented_patients(SHARING)) == []
    assert len(decisions_of(patient)) == 3


def test_a_decision_on_an_outdated_version_is_refused(tenant, admin, patient, patient_user):
    publish(tenant, admin, text="Version one.")
    publish(tenant, admin, text="Version two.")

    with pytest.raises(services.ConsentRefused, match="version 2"):
        services.decide(patient=patient, purpose=RESEARCH, grant=True, version=1, actor=patient_user)
    assert decisions_of(patient) == []


def test_there_is_nothing_to_withdraw_before_a_grant_nor_to_agree_without_a_text(
    tenant, admin, patient, patient_user
):
    with pytest.raises(services.ConsentRefused, match="not published"):
        services.decide(patient=patient, purpose=RESEARCH, grant=True, version=1, actor=patient_user)
    publish(tenant, admin)
    with pytest.raises(services.ConsentRefused, match="no consent to withdraw"):
        services.decide(patient=patient, purpose=RESEARCH, grant=False, version=1, actor=patient_user)


def test_decisions_leave_exact_audit_events(client, tenant, admin, patient, patient_user):
    publish(tenant, admin)
    client.force_login(patient_user)
    marker = last_event_id()

    decide(client, patient, RESEARCH, "grant", 1)
    decide(client, patient, RESEARCH, "withdraw", 1)

    events = list(AuditEvent.objects.filter(pk__gt=marker).order_by("pk"))
    assert [
        (e.action, e.tenant, e.actor, e.actor_role, e.object_type, e.object_ids, e.details) for e in events
    ] == [
        (
            AuditAction.CONSENT_GRANTED,
            tenant,
            patient_user,
            Role.PATIENT,
            "patient",
            [str(patient.pk)],
            {"purpose": RESEARCH.value, "text_version": 1},
        ),
        (
            AuditAction.CONSENT_WITHDRAWN,
            tenant,
            patient_user,
            Role.PATIENT,
            "patient",
            [str(patient.pk)],
            {"purpose": RESEARCH.value, "text_version": 1},
        ),
    ]


def test_the_patient_page_shows_each_clinic_text_decision_and_history(
    client, tenant, other_tenant, admin, member_factory, patient, patient_user
):
    publish(tenant, admin, text="Alpha research words.")
    services.decide(patient=patient, purpose=RESEARCH, grant=True, version=1, actor=patient_user)
    # The same person is also a patient of a second clinic, which asks for nothing yet.
    MembershipFactory(user=patient_user, tenant=other_tenant, role=Role.PATIENT)
    PatientFactory(tenant=other_tenant, account=patient_user)
    client.force_login(patient_user)

    page = client.get(reverse("my-consents"))

    body = page.content.decode()
    assert page.status_code == 200
    assert page.context["records"][0].tenant == tenant
    assert [record.tenant for record in page.context["records"]] == [tenant, other_tenant]
    assert "Alpha research words." in body
    assert 'data-testid="consent-withdraw"' in body
    assert 'data-testid="consent-history"' in body
    alpha = page.context["records"][0]
    research = next(state for state in alpha.states if state.purpose == RESEARCH)
    assert research.granted and research.decided_at is not None


def test_another_patient_cannot_change_my_consents(client, tenant, admin, patient, member_factory):
    publish(tenant, admin)
    someone_else = member_factory(tenant, Role.PATIENT)
    PatientFactory(tenant=tenant, account=someone_else)
    client.force_login(someone_else)

    response = decide(client, patient, RESEARCH, "grant", 1)
    page = client.get(reverse("my-consents")).content.decode()

    assert response.status_code == 404
    assert decisions_of(patient) == []
    assert f'data-patient="{patient.pk}"' not in page


def test_a_patient_of_another_clinic_cannot_change_my_consents(
    client, tenant, other_tenant, admin, patient, member_factory
):
    publish(tenant, admin)
    stranger = member_factory(other_tenant, Role.PATIENT)
    PatientFactory(tenant=other_tenant, account=stranger)
    client.force_login(stranger)

    assert decide(client, patient, RESEARCH, "grant", 1).status_code == 404
    assert decisions_of(patient) == []


def test_clinic_staff_cannot_use_the_patient_page_to_decide(client, tenant, admin, patient):
    publish(tenant, admin)
    client.force_login(admin)

    assert decide(client, patient, RESEARCH, "grant", 1).status_code == 404
    assert decisions_of(patient) == []


def test_anonymous_callers_are_sent_to_sign_in(client):
    response = client.get(reverse("my-consents"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
