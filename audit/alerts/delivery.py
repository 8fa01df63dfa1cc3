"""Telling people about an alert: an e-mail to the clinic's privacy officers (the platform's operators
for a platform alert) and a signed webhook request. Both carry the alert's summary, identifiers and a
link, never PHI: the details stay behind the link, for whoever may see them.

Each is a Celery task (audit.alerts.tasks) queued when the alert's transaction commits; the alert's
status fields are the outbox, so a message lost with the broker is queued again by the sweeper.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from accounts.models import Membership, User
from accounts.roles import Role
from audit.alerts.models import Alert, DeliveryStatus
from audit.alerts.services import rules_of
from portal.tenancy import all_tenants_scope

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Palisade-Signature"
TIMESTAMP_HEADER = "X-Palisade-Timestamp"
TIMEOUT_SECONDS = (5, 10)


class WebhookFailed(Exception):
    """The receiver did not take the alert; worth trying again later."""


class WebhookRefused(Exception):
    """The webhook's address is not one Palisade sends to; trying again will not help."""


def queue(alert_id: int) -> None:
    """Queue the alert's deliveries. A broker that is down delays them: the sweeper queues them again."""
    from audit.alerts import tasks

    for task in (tasks.send_alert_email, tasks.post_alert_webhook):
        try:
            task.delay(alert_id)
        except BrokerError:
            logger.warning("Broker unreachable; delivery of alert #%s left to the sweeper", alert_id)


def recipients(alert: Alert) -> list[str]:
    rules = rules_of(alert.tenant)
    listed = [address.strip() for address in rules.email_recipients.replace(";", ",").split(",")]
    if any(listed):
        return [address for address in listed if address]
    if alert.tenant is None:
        return list(
            User.objects.filter(is_superuser=True, is_active=True)
            .order_by("email")
            .values_list("email", flat=True)
        )
    members = Membership.objects.filter(tenant=alert.tenant, user__is_active=True).order_by("user__email")
    for role in (Role.AUDITOR, Role.TENANT_ADMIN):
        found = list(members.filter(role=role).values_list("user__email", flat=True))
        if found:
            return found
    return []


def link(alert: Alert) -> str:
    base = settings.PALISADE_BASE_URL.rstrip("/")
    if alert.tenant is None:
        return base + reverse("admin:alerts_alert_change", args=[alert.pk])
    return base + reverse("alerts", kwargs={"tenant_slug": alert.tenant.slug})


def payload(alert: Alert) -> dict:
    """What the webhook receives. The subject is a user ID or an AE title; a restricted patient's
    internal ID, like every other detail, stays behind the link."""
    subject = alert.subject_key.partition("|")[0]
    return {
        "event": "alert.raised",
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "summary": alert.summary,
        "tenant": alert.tenant.slug if alert.tenant else None,
        "subject": subject,
        "subject_user_id": alert.subject_user_id,
        "count": alert.count,
        "first_event_at": alert.first_event_at.isoformat(),
        "last_event_at": alert.last_event_at.isoformat(),
        "raised_at": alert.created_at.isoformat(),
        "audit_chain": alert.chain,
        "audit_sequence": alert.first_sequence,
        "url": link(alert),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": the timestamp header is signed too, so that a receiver
    can refuse an old request played again."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def check_destination(url: str, *, trusted: bool) -> None:
    """Refuse a webhook address that would make the server call into its own network: a clinic's
    webhook must be https to a public address (PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL lifts this for
    development). The platform's own webhook, set by its operators, may go anywhere."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("the webhook address must be an http or https URL")
    if trusted or settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL:
        return
    if parts.scheme != "https":
        raise WebhookRefused("a clinic's webhook must use https")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise WebhookFailed(f"cannot resolve {parts.hostname}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookRefused(f"{parts.hostname} resolves to a private or local address")


def _load(alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id).select_related("tenant").first()


def send_email(alert_id: int) -> None:
    with all_tenants_scope():
        alert = _load(alert_id)
        if alert is None or alert.email_status != DeliveryStatus.PENDING:
            return
        to = recipients(alert)
        if not to:
            _mark(alert_id, email_status=DeliveryStatus.NOT_CONFIGURED)
            return
        _mark(alert_id, delivery_attempted_at=timezone.now())
        context = {
            "alert": alert,
            "link": link(alert),
            "clinic": alert.tenant.name if alert.tenant else "the platform",
        }
        subject = f"[Palisade] {alert.get_severity_display()} alert: {alert.summary}"
        send_mail(subject[:150], render_to_string("alerts/email.txt", context), None, to)
        _mark(alert_id, email_status=DeliveryStatus.SENT, email_sent_at=timezone.now())


def post_webhook(alert_id: int) -> None:
    """POST the alert to its webhook. Raises WebhookFailed (try again) or WebhookRefused (do not)."""
    with all_tenants_scope():
        alert = _load(alert_id)
        if alert is None or alert.webhook_status != DeliveryStatus.PENDING:
            return
        rules = rules_of(alert.tenant)
        if not rules.webhook_url:
            _mark(alert_id, webhook_status=DeliveryStatus.NOT_CONFIGURED)
            return
        check_destination(rules.webhook_url, trusted=alert.tenant is None)
        body = json.dumps(payload(alert), sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Palisade-Alerts/1",
            "X-Palisade-Event": "alert.raised",
            "X-Palisade-Alert": str(alert.pk),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(rules.webhook_secret, timestamp, body),
        }
        Alert.objects.filter(pk=alert_id).update(
            webhook_attempts=F("webhook_attempts") + 1, delivery_attempted_at=timezone.now()
        )
        try:
            # No redirects: a receiver must not be able to point the request somewhere else.
            response = requests.post(
                rules.webhook_url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as error:
            _mark(alert_id, delivery_error=f"webhook: {type(error).__name__}")
            raise WebhookFailed(type(error).__name__) from error
        if not 200 <= response.status_code < 300:
            _mark(alert_id, delivery_error=f"webhook: HTTP {response.status_code}")
            raise WebhookFailed(f"HTTP {response.status_code}")
        _mark(
            alert_id,
            webhook_status=DeliveryStatus.SENT,
            webhook_delivered_at=timezone.now(),
            delivery_error="",
        )


def give_up(alert_id: int, channel: str, reason: str) -> None:
    logger.error("Alert #%s: %s delivery given up: %s", alert_id, channel, reason)
    with all_tenants_scope():
        _mark(
            alert_id,
            **{f"{channel}_status": DeliveryStatus.FAILED},
            delivery_error=f"{channel}: {reason}"[:200],
        )


def _mark(alert_id: int, **fields) -> None:
    Alert.objects.filter(pk=alert_id).update(**fields)
