from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from audit.alerts import delivery, services
from audit.alerts.models import PENDING_DELIVERY, Alert
from portal.tenancy import all_tenants_scope

WEBHOOK_MAX_RETRIES = 8
# A delivery queued this long ago and still pending lost its message (the broker went down).
_LOST_AFTER = timedelta(minutes=30)
_NEVER_STARTED_AFTER = timedelta(minutes=10)
_GIVE_UP_AFTER = timedelta(days=2)


@shared_task
def evaluate_alert_rules() -> int:
    """Run by beat: examine every audit chain's new events with the alert rules. Returns how many
    alerts were raised."""
    return len(services.evaluate_all_chains())


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_alert_email(alert_id: int) -> None:
    delivery.send_email(alert_id)


@shared_task(bind=True, ignore_result=True, max_retries=WEBHOOK_MAX_RETRIES)
def post_alert_webhook(self, alert_id: int) -> None:
    try:
        delivery.post_webhook(alert_id)
    except delivery.WebhookRefused as refusal:
        delivery.give_up(alert_id, "webhook", str(refusal))
    except delivery.WebhookFailed as failure:
        if self.request.retries >= WEBHOOK_MAX_RETRIES:
            delivery.give_up(alert_id, "webhook", str(failure))
            return
        backoff = settings.PALISADE_ALERT_WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries
        raise self.retry(exc=failure, countdown=min(backoff, 900)) from failure


@shared_task(ignore_result=True)
def redeliver_pending_alerts() -> None:
    """Run by beat: queue again the deliveries whose message was lost."""
    now = timezone.now()
    with all_tenants_scope():
        lost = (
            Alert.objects.filter(PENDING_DELIVERY, created_at__gte=now - _GIVE_UP_AFTER)
            .filter(
                Q(delivery_attempted_at__isnull=True, created_at__lt=now - _NEVER_STARTED_AFTER)
                | Q(delivery_attempted_at__lt=now - _LOST_AFTER)
            )
            .values_list("pk", flat=True)
        )
        alert_ids = list(lost)
    for alert_id in alert_ids:
        delivery.queue(alert_id)
