"""Delivering alerts (issue 7, "Alerts"): e-mail to the privacy officers, a signed webhook, retried by a
real worker with backoff, and nothing of a patient in either."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from audit.alerts import delivery
from audit.alerts.models import Alert, AlertKind, AlertRules, DeliveryStatus
from audit.alerts.services import evaluate_all_chains
from audit.alerts.tasks import redeliver_pending_alerts
from audit.models import AuditAction
from imaging.models import Patient
from portal.tenancy import all_tenants_scope, tenant_scope
from tests.alerts import WebhookReceiver, record_at, start_alert_worker, wait_until
from tests.factories import PatientFactory, StudyFactory, UserFactory
from tests.mail import mails

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def restricted_access_alert(tenant, user, **rules) -> Alert:
    """An alert about `user` opening a study of a restricted patient named Doe^Jane."""
    AlertRules.objects.update_or_create(tenant=tenant, defaults=rules)
    patient = PatientFactory(tenant=tenant, name="Doe^Jane")
    with tenant_scope(tenant):
        Patient.objects.filter(pk=patient.pk).update(is_restricted=True)
    study = StudyFactory(tenant=tenant, patient=patient)
    record_at(
        START,
        AuditAction.VIEW_STUDY,
        tenant=tenant,
        actor=user,
        object_type="study",
        object_ids=[study.study_instance_uid],
    )
    (alert,) = evaluate_all_chains()
    alert.study = study
    return alert


def status(alert: Alert) -> Alert:
    with all_tenants_scope():
        return Alert.objects.get(pk=alert.pk)


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


# --- E-mail ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_clinics_privacy_officers_are_emailed_without_patient_details(
    tenant, member_factory, radiologist
):
    officers = {member_factory(tenant, Role.AUDITOR).email, member_factory(tenant, Role.AUDITOR).email}
    member_factory(tenant, Role.TENANT_ADMIN)
    alert = restricted_access_alert(tenant, radiologist)

    delivery.send_email(alert.pk)

    (message,) = mail.outbox
    assert set(message.to) == officers
    assert message.subject == f"[Palisade] High alert: {alert.summary}"
    assert f"http://127.0.0.1:8000/t/{tenant.slug}/alerts/" in message.body
    for phi in ("Doe", "Jane", alert.study.study_instance_uid, alert.study.patient.patient_id):
        assert phi not in message.body and phi not in message.subject
    assert status(alert).email_status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_clinic_without_privacy_officers_emails_its_admins(tenant, member_factory, radiologist):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    alert = restricted_access_alert(tenant, radiologist)

    delivery.send_email(alert.pk)

    assert mail.outbox[0].to == [admin.email]


@pytest.mark.django_db
def test_listed_recipients_replace_the_officers(tenant, member_factory, radiologist):
    member_factory(tenant, Role.AUDITOR)
    alert = restricted_access_alert(tenant, radiologist, email_recipients="soc@example.org, dpo@example.org")

    delivery.send_email(alert.pk)

    assert mail.outbox[0].to == ["soc@example.org", "dpo@example.org"]


@pytest.mark.django_db
def test_platform_alerts_go_to_the_operators(db):
    operator = UserFactory(is_superuser=True, is_staff=True)
    UserFactory(is_superuser=True, is_active=False)
    for n in range(10):
        record_at(START, AuditAction.SIGN_IN_FAILED, details={"n": n})
    (alert,) = evaluate_all_chains()

    delivery.send_email(alert.pk)

    assert mail.outbox[0].to == [operator.email]
    assert f"/admin/alerts/alert/{alert.pk}/change/" in mail.outbox[0].body


@pytest.mark.django_db
def test_nothing_is_emailed_when_the_clinic_turned_email_off(tenant, member_factory, radiologist):
    member_factory(tenant, Role.AUDITOR)
    alert = restricted_access_alert(tenant, radiologist, email_enabled=False)

    delivery.send_email(alert.pk)

    assert mail.outbox == []
    assert alert.email_status == DeliveryStatus.NOT_CONFIGURED


# --- Webhook -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_webhook_gets_a_signed_payload_of_identifiers_and_a_link(settings, tenant, radiologist):
    settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = True
    with WebhookReceiver() as receiver:
        alert = restricted_access_alert(tenant, radiologist, webhook_url=receiver.url)
        secret = AlertRules.objects.get(tenant=tenant).webhook_secret

        delivery.post_webhook(alert.pk)

    (request,) = receiver.deliveries
    assert request.signed_with(secret)
    assert not request.signed_with("another secret")
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["id"] == alert.pk
    assert (body["kind"], body["severity"], body["tenant"]) == (
        AlertKind.RESTRICTED_PATIENT,
        "high",
        tenant.slug,
    )
    assert (body["subject"], body["subject_user_id"]) == (f"user:{radiologist.pk}", radiologist.pk)
    assert body["url"] == f"http://127.0.0.1:8000/t/{tenant.slug}/alerts/"
    raw = request.body.decode()
    for phi in ("Doe", "Jane", alert.study.study_instance_uid, f"patient:{alert.study.patient_id}"):
        assert phi not in raw
    after = status(alert)
    assert (after.webhook_status, after.webhook_attempts) == (DeliveryStatus.SENT, 1)


@pytest.mark.django_db
def test_a_receiver_error_leaves_the_delivery_pending_to_be_tried_again(settings, tenant, radiologist):
    settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = True
    with WebhookReceiver(answers=[503]) as receiver:
        alert = restricted_access_alert(tenant, radiologist, webhook_url=receiver.url)

        with pytest.raises(delivery.WebhookFailed, match="HTTP 503"):
            delivery.post_webhook(alert.pk)

    after = status(alert)
    assert (after.webhook_status, after.webhook_attempts) == (DeliveryStatus.PENDING, 1)
    assert after.delivery_error == "webhook: HTTP 503"


@pytest.mark.django_db
def test_a_clinic_webhook_into_the_servers_own_network_is_refused(tenant, radiologist):
    with WebhookReceiver() as receiver:
        alert = restricted_access_alert(tenant, radiologist, webhook_url=receiver.url)

        with pytest.raises(delivery.WebhookRefused):
            delivery.post_webhook(alert.pk)

    assert receiver.deliveries == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "ftp://x/",
    ],
)
def test_clinic_webhooks_must_be_https_to_a_public_address(url):
    with pytest.raises(delivery.WebhookRefused):
        delivery.check_destination(url, trusted=False)


def test_the_platform_webhook_may_be_on_loopback():
    delivery.check_destination("http://127.0.0.1:9000/hook", trusted=True)


# --- With a real worker ------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_emails_the_officers_and_retries_the_webhook_with_backoff(
    tenant, member_factory, worker_factory
):
    officer = member_factory(tenant, Role.AUDITOR)
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    start_alert_worker(worker_factory)
    with WebhookReceiver(answers=[500, 502]) as receiver:
        alert = restricted_access_alert(tenant, radiologist, webhook_url=receiver.url)

        wait_until(lambda: status(alert).webhook_status == DeliveryStatus.SENT, message="webhook delivered")

    assert [delivery.json["id"] for delivery in receiver.deliveries] == [alert.pk] * 3
    assert status(alert).webhook_attempts == 3
    (message,) = mails()
    assert f"To: {officer.email}" in message
    wait_until(lambda: status(alert).email_status == DeliveryStatus.SENT, message="e-mail marked sent")


@pytest.mark.django_db
def test_the_sweeper_queues_again_only_deliveries_whose_message_was_lost(
    tenant, member_factory, radiologist, monkeypatch
):
    queued = []
    monkeypatch.setattr(delivery, "queue", queued.append)
    member_factory(tenant, Role.AUDITOR)
    alert = restricted_access_alert(tenant, radiologist)

    def created(ago: timedelta) -> None:
        with all_tenants_scope():
            Alert.objects.filter(pk=alert.pk).update(created_at=timezone.now() - ago)
        redeliver_pending_alerts()

    created(timedelta(minutes=1))  # its message is surely still on its way
    created(timedelta(days=3))  # given up on
    assert queued == []
    created(timedelta(minutes=20))
    assert queued == [alert.pk]
