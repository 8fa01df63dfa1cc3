"""Issue 7's acceptance: fifty failed sign-ins in a minute raise exactly one alert, and it reaches a
webhook receiver on loopback, signed, through a real Celery worker."""

import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from audit.alerts.models import Alert, AlertCursor, AlertKind, AlertRules, DeliveryStatus
from audit.alerts.tasks import evaluate_alert_rules
from audit.models import AuditAction, AuditChainHead, AuditEvent
from portal.tenancy import all_tenants_scope
from tests.alerts import WebhookReceiver, start_alert_worker, wait_until
from tests.factories import UserFactory
from tests.mail import mails

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def platform_alerts() -> list[Alert]:
    with all_tenants_scope():
        return list(Alert.objects.filter(tenant=None))


def run_the_rules_as_beat_does() -> None:
    """One tick of beat's "alert-rules" entry, waited for: the worker has examined the platform chain
    up to its head as it was when the task was queued."""
    head = AuditChainHead.objects.get(chain="platform").sequence
    evaluate_alert_rules.delay()
    wait_until(
        lambda: AlertCursor.objects.filter(chain="platform", sequence__gte=head).exists(),
        message="the worker examined the platform chain",
    )


def test_fifty_failed_sign_ins_in_a_minute_raise_exactly_one_alert_that_reaches_the_webhook(worker_factory):
    operator = UserFactory(is_superuser=True, is_staff=True)
    start_alert_worker(worker_factory)
    with WebhookReceiver() as receiver:
        rules = AlertRules.objects.create(tenant=None, webhook_url=receiver.url)
        client = Client(REMOTE_ADDR="198.51.100.7")

        # Five unknown names, ten wrong passwords each: below the lockout of any one name (11), so
        # every attempt is a real failed sign-in answered like any other.
        started = time.monotonic()
        answers = [
            client.post(
                reverse("login"), {"username": f"guess{n % 5}@example.org", "password": "wrong"}
            ).status_code
            for n in range(50)
        ]
        assert time.monotonic() - started < 60
        assert answers == [200] * 50
        assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED, chain="platform").count() == 50

        # Beat ticks while the burst goes on and after it: the burst is still one alert.
        run_the_rules_as_beat_does()
        run_the_rules_as_beat_does()
        (alert,) = platform_alerts()
        wait_until(
            lambda: platform_alerts()[0].webhook_status == DeliveryStatus.SENT, message="webhook delivered"
        )
        run_the_rules_as_beat_does()

    (delivery,) = receiver.deliveries
    assert delivery.signed_with(rules.webhook_secret)
    body = delivery.json
    assert (body["id"], body["kind"], body["tenant"], body["count"]) == (
        alert.pk,
        AlertKind.FAILED_SIGN_INS,
        None,
        50,
    )
    assert body["url"] == f"{settings.PALISADE_BASE_URL}/admin/alerts/alert/{alert.pk}/change/"
    assert "guess" not in delivery.body.decode()
    assert len(platform_alerts()) == 1
    assert platform_alerts()[0].count == 50
    (message,) = mails()
    assert f"To: {operator.email}" in message
    assert "10 failed sign-ins within 5 minutes" in message and "Events: 50" in message
