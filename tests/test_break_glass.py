"""Break-the-glass (issue 6): a clinician without rights to a study opens it after stating a reason;
access lasts a bounded time, is marked in the audit trail and alerts the privacy officers at once."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.alerts.models import Alert, AlertKind, DeliveryStatus
from audit.models import AuditAction, AuditEvent, Outcome
from portal.sharing.models import BreakGlassGrant
from portal.tenancy import all_tenants_scope, tenant_scope
from tests.alerts import start_alert_worker, wait_until
from tests.factories import StudyFactory, UserFactory
from tests.mail import mails

REASON = "Unconscious patient in the emergency department, prior CT needed for comparison"


@pytest.fixture
def study(tenant):
    return StudyFactory(tenant=tenant, accession_number="ACC-7")


@pytest.fixture
def doctor(tenant, member_factory):
    """A referring doctor with no share of the study."""
    return member_factory(tenant, Role.REFERRING_PHYSICIAN)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(tenant) -> str:
    return reverse("break-glass", kwargs={"tenant_slug": tenant.slug})


def study_page(study) -> str:
    return reverse(
        "study-detail", kwargs={"tenant_slug": study.tenant.slug, "study_uid": study.study_instance_uid}
    )


def form(identifier: str, reason: str = REASON, confirm: bool = True) -> dict:
    return {"identifier": identifier, "reason": reason, **({"confirm": "on"} if confirm else {})}


def grants(tenant) -> list[BreakGlassGrant]:
    with tenant_scope(tenant):
        return list(BreakGlassGrant.objects.select_related("user", "study"))


def alerts() -> list[Alert]:
    with all_tenants_scope():
        return list(Alert.objects.order_by("id"))


@pytest.mark.django_db
def test_a_doctor_without_a_share_breaks_the_glass_and_opens_the_study(tenant, study, doctor):
    client = signed_in(doctor)
    assert client.get(study_page(study)).status_code == 404

    assert client.get(page(tenant)).status_code == 200
    response = client.post(page(tenant), form(study.study_instance_uid))

    assert response.status_code == 302 and response.url == study_page(study)
    opened = client.get(study_page(study))
    assert opened.status_code == 200
    assert "Emergency access until" in opened.content.decode()
    (grant,) = grants(tenant)
    assert (grant.user, grant.study, grant.reason) == (doctor, study, REASON)
    assert timedelta(minutes=59) < grant.expires_at - grant.granted_at <= timedelta(minutes=60)


@pytest.mark.django_db
def test_breaking_the_glass_is_marked_in_the_trail_without_the_reason(tenant, study, doctor):
    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))

    (grant,) = grants(tenant)
    event = AuditEvent.objects.get(action=AuditAction.BREAK_THE_GLASS)
    assert (event.actor, event.actor_role, event.tenant, event.outcome) == (
        doctor,
        Role.REFERRING_PHYSICIAN,
        tenant,
        Outcome.SUCCESS,
    )
    assert (event.object_type, event.object_ids) == ("study", [study.study_instance_uid])
    assert event.details == {"grant": grant.pk, "minutes": 60}
    assert "emergency" not in str(event.details).lower()
    viewed = AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY, actor=doctor)
    assert viewed.count() == 0  # only once the study is opened


@pytest.mark.django_db
def test_breaking_the_glass_raises_an_alert_at_once(tenant, study, doctor):
    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))

    (alert,) = alerts()
    (grant,) = grants(tenant)
    assert (alert.tenant, alert.kind, alert.subject_user) == (tenant, AlertKind.BREAK_GLASS, doctor)
    assert alert.details["grants"] == [str(grant.pk)]
    assert AuditEvent.objects.filter(action=AuditAction.ALERT_RAISED, tenant=tenant).count() == 1


@pytest.mark.django_db
def test_the_privacy_officer_reads_the_reason_on_the_alerts_page(tenant, study, doctor, member_factory):
    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))

    officer = signed_in(member_factory(tenant, Role.AUDITOR))
    listing = officer.get(reverse("alerts", kwargs={"tenant_slug": tenant.slug})).content.decode()

    assert REASON in listing and study.study_instance_uid in listing and doctor.email in listing


@pytest.mark.django_db
def test_the_study_may_be_named_by_its_accession_number(tenant, study, doctor):
    response = signed_in(doctor).post(page(tenant), form("ACC-7"))

    assert response.url == study_page(study)
    assert [grant.study for grant in grants(tenant)] == [study]


@pytest.mark.django_db
def test_access_ends_when_the_grant_expires(tenant, study, doctor):
    client = signed_in(doctor)
    client.post(page(tenant), form(study.study_instance_uid))
    assert client.get(study_page(study)).status_code == 200

    with tenant_scope(tenant):
        BreakGlassGrant.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert client.get(study_page(study)).status_code == 404


@pytest.mark.django_db
def test_the_duration_is_a_setting(settings, tenant, study, doctor):
    settings.PALISADE_BREAK_GLASS_MINUTES = 15

    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))

    (grant,) = grants(tenant)
    assert grant.expires_at - grant.granted_at == timedelta(minutes=15)
    assert AuditEvent.objects.get(action=AuditAction.BREAK_THE_GLASS).details["minutes"] == 15


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "error"),
    [
        (form("x", reason="I need it"), "at least 20 characters"),
        (form("x", reason=" " * 30), "This field is required"),
        (form("x", confirm=False), "This field is required"),
    ],
)
def test_a_reason_and_the_confirmation_are_required(tenant, study, doctor, data, error):
    data["identifier"] = study.study_instance_uid

    response = signed_in(doctor).post(page(tenant), data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert grants(tenant) == []
    assert not AuditEvent.objects.filter(action=AuditAction.BREAK_THE_GLASS).exists()


@pytest.mark.django_db
def test_a_clinician_is_told_when_no_study_of_the_clinic_matches(tenant, other_tenant, doctor):
    elsewhere = StudyFactory(tenant=other_tenant, accession_number="ACC-9")
    client = signed_in(doctor)

    for identifier in ("2.25.404", elsewhere.study_instance_uid, "ACC-9"):
        response = client.post(page(tenant), form(identifier))
        assert response.status_code == 200
        assert (
            "No study of this clinic has this Study Instance UID or accession number."
            in response.content.decode()
        )
    assert grants(tenant) == [] and alerts() == []
    refused = AuditEvent.objects.filter(action=AuditAction.BREAK_THE_GLASS, outcome=Outcome.FAILURE)
    assert [event.details for event in refused] == [{"refused": "no_matching_study"}] * 3


@pytest.mark.django_db
def test_an_accession_number_of_several_studies_asks_for_the_uid(tenant, doctor):
    StudyFactory(tenant=tenant, accession_number="DUP")
    StudyFactory(tenant=tenant, accession_number="DUP")

    response = signed_in(doctor).post(page(tenant), form("DUP"))

    assert "enter the Study Instance UID" in response.content.decode()
    assert grants(tenant) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role", [Role.BILLING, Role.AUDITOR, Role.PATIENT, Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.TENANT_ADMIN]
)
def test_who_may_not_break_the_glass_finds_no_page_and_learns_nothing(tenant, study, member_factory, role):
    client = signed_in(member_factory(tenant, role))

    answers = [
        client.get(page(tenant)),
        client.post(page(tenant), form(study.study_instance_uid)),
        client.post(page(tenant), form("2.25.404")),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert answers[1].content == answers[2].content
    assert grants(tenant) == [] and alerts() == []


@pytest.mark.django_db
def test_a_member_of_another_clinic_finds_no_page(tenant, other_tenant, study, member_factory):
    client = signed_in(member_factory(other_tenant, Role.RADIOLOGIST))

    assert client.get(page(tenant)).status_code == 404
    assert client.post(page(tenant), form(study.study_instance_uid)).status_code == 404
    assert grants(tenant) == []


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_sign_in(tenant):
    response = Client().get(page(tenant))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_operators_see_active_grants_read_only_in_the_platform_admin(tenant, study, doctor):
    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))
    ended = StudyFactory(tenant=tenant)
    with tenant_scope(tenant):
        BreakGlassGrant.objects.create(
            tenant=tenant,
            user=doctor,
            study=ended,
            reason=REASON,
            granted_at=timezone.now() - timedelta(hours=3),
            expires_at=timezone.now() - timedelta(hours=2),
        )
    (grant,) = [grant for grant in grants(tenant) if grant.study == study]
    operator = signed_in(UserFactory(is_superuser=True, is_staff=True))

    active = operator.get(reverse("admin:sharing_breakglassgrant_changelist"), {"state": "active"})
    change = operator.get(reverse("admin:sharing_breakglassgrant_change", args=[grant.pk]))

    assert active.status_code == 200
    listing = active.content.decode()
    assert study.study_instance_uid in listing and ended.study_instance_uid not in listing
    assert REASON not in listing and REASON not in change.content.decode()
    assert 'name="_save"' not in change.content.decode()
    assert operator.get(reverse("admin:sharing_breakglassgrant_add")).status_code == 403


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_privacy_officers_are_emailed_as_the_glass_breaks(tenant, doctor, member_factory, worker_factory):
    officer = member_factory(tenant, Role.AUDITOR)
    study = StudyFactory(tenant=tenant)
    start_alert_worker(worker_factory)

    signed_in(doctor).post(page(tenant), form(study.study_instance_uid))

    (message,) = mails()
    assert f"To: {officer.email}" in message
    assert "Break-the-glass access" in message
    assert REASON not in message and study.study_instance_uid not in message
    (alert,) = alerts()
    wait_until(lambda: alerts()[0].email_status == DeliveryStatus.SENT, message="e-mail marked sent")
    assert alert.kind == AlertKind.BREAK_GLASS
