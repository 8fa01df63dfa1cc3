"""Alerts raised by the rules that watch the audit stream (audit.alerts.rules), and each clinic's
settings for those rules.

An alert is about one kind of behaviour of one subject (a user, a DICOM peer, or the whole chain for
failed sign-ins) over a stretch of its chain's events, from `first_sequence` to `last_sequence`. It
carries identifiers (user IDs, study UIDs, internal patient IDs, addresses), never PHI values, so that
its summary can go into an e-mail or a webhook as it is.
"""

import secrets
import zoneinfo
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django_scopes import ScopedManager

from portal.models import Tenant


class AlertKind(models.TextChoices):
    FAILED_SIGN_INS = "failed_sign_ins", "Burst of failed sign-ins"
    MANY_PATIENTS = "many_patients", "Many patients viewed"
    BULK_DOWNLOAD = "bulk_download", "Bulk download"
    OFF_HOURS = "off_hours", "Access outside usual hours"
    BREAK_GLASS = "break_glass", "Break-the-glass access"
    RESTRICTED_PATIENT = "restricted_patient", "Access to a restricted patient"
    CHAIN_BROKEN = "chain_broken", "Audit chain verification failed"
    STORAGE_FAULT = "storage_fault", "Stored copies at risk"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    NOT_CONFIGURED = "not_configured", "Not configured"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def _minutes(default: int) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        default=default, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )


def _threshold(default: int) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(default=default, validators=[MinValueValidator(2)])


# Callables rather than fixed times: Django's W161 check ("fixed default value") compares a fixed time
# with the clock and fires, spuriously, when `check --deploy` runs within seconds of 07:00 or 19:00.
def _seven_am() -> time:
    return time(7, 0)


def _seven_pm() -> time:
    return time(19, 0)


class AlertRules(models.Model):
    """A clinic's thresholds and delivery settings; the row without a clinic holds the platform's
    (failed sign-ins at the sign-in page belong to no clinic). Holds no PHI, and is read outside any
    tenant scope, like accounts.SecurityPolicy. A clinic without a row uses the defaults.

    Break-the-glass and a broken audit chain always alert: they have no switch."""

    tenant = models.OneToOneField(
        Tenant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rules",
        help_text="Empty for the platform's rules.",
    )

    failed_sign_ins_enabled = models.BooleanField("alert on bursts of failed sign-ins", default=True)
    failed_sign_ins_threshold = _threshold(10)
    failed_sign_ins_window_minutes = _minutes(5)

    many_patients_enabled = models.BooleanField("alert when one user views many patients", default=True)
    many_patients_threshold = _threshold(25)
    many_patients_window_minutes = _minutes(60)

    bulk_download_enabled = models.BooleanField("alert on bulk downloads", default=True)
    bulk_download_threshold = _threshold(10)
    bulk_download_window_minutes = _minutes(60)

    off_hours_enabled = models.BooleanField(
        "alert on access outside usual hours",
        default=False,
        help_text="Off until the clinic sets its usual hours: a clinic that reads around the clock has none.",
    )
    usual_hours_start = models.TimeField(default=_seven_am)
    usual_hours_end = models.TimeField(
        default=_seven_pm, help_text="May be before the start, for usual hours across midnight."
    )
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    off_hours_window_minutes = _minutes(60)

    restricted_patient_enabled = models.BooleanField("alert on access to restricted patients", default=True)
    restricted_patient_window_minutes = _minutes(60)

    email_enabled = models.BooleanField("send alerts by e-mail", default=True)
    email_recipients = models.TextField(
        blank=True,
        help_text="Comma-separated addresses. Empty: the clinic's privacy officers (else its admins); "
        "for the platform, its operators.",
    )
    webhook_url = models.URLField(blank=True, max_length=500)
    webhook_secret = models.CharField(
        max_length=128,
        blank=True,
        default=new_webhook_secret,
        help_text="Key of the HMAC-SHA256 signature in each webhook request's X-Palisade-Signature header.",
    )

    class Meta:
        verbose_name = "alert rules"
        verbose_name_plural = "alert rules"
        constraints = [
            # One row per clinic, and one for the platform (a NULL clinic would not be unique otherwise).
            models.UniqueConstraint(
                Coalesce(F("tenant"), Value(0)),
                name="one_alert_rules_per_tenant",
                violation_error_message="This clinic (or the platform) has alert rules already.",
            )
        ]

    def __str__(self) -> str:
        return f"Alert rules of {self.tenant}" if self.tenant_id else "Alert rules of the platform"

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValidationError({"time_zone": f"Unknown time zone {self.time_zone!r}."}) from error
        if self.usual_hours_start == self.usual_hours_end:
            raise ValidationError(
                {"usual_hours_end": "The usual hours must not start and end at the same time."}
            )

    def is_usual_time(self, moment: datetime) -> bool:
        local = moment.astimezone(zoneinfo.ZoneInfo(self.time_zone)).time()
        start, end = self.usual_hours_start, self.usual_hours_end
        if start < end:
            return start <= local < end
        return local >= start or local < end


class Alert(models.Model):
    """One alert: raised once, extended while its burst goes on, acknowledged by a privacy officer."""

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: platform.",
    )
    chain = models.CharField(max_length=40, help_text="The audit chain whose events raised it.")
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    summary = models.CharField(max_length=200, help_text="Identifiers only; sent by e-mail and webhook.")
    details = models.JSONField(default=dict, blank=True)
    subject_key = models.CharField(
        max_length=120, blank=True, help_text="Who or what the alert is about, e.g. user:12 or ae:PACS."
    )
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_sequence = models.PositiveBigIntegerField(help_text="The event that raised it.")
    last_sequence = models.PositiveBigIntegerField(help_text="The newest event it covers.")
    first_event_at = models.DateTimeField(help_text="When the first event it counts happened.")
    last_event_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1, help_text="Events the alert covers so far.")
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)
    webhook_attempts = models.PositiveIntegerField(default=0)
    delivery_attempted_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.CharField(max_length=200, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The event that raised an alert raises no other of its kind, however often it is examined
            # (by the stream's task and by the immediate path alike).
            models.UniqueConstraint(
                fields=["chain", "kind", "subject_key", "first_sequence"], name="one_alert_per_trigger"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "acknowledged_at", "created_at"], name="alert_tenant_open"),
            models.Index(
                fields=["chain", "kind", "subject_key", "last_event_at"], name="alert_subject_recent"
            ),
        ]

    def __str__(self) -> str:
        return f"Alert #{self.pk} ({self.get_kind_display()})"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    def covers(self, sequence: int) -> bool:
        return self.first_sequence <= sequence <= self.last_sequence

    def is_within(self, window: timedelta, moment: datetime) -> bool:
        return self.last_event_at >= moment - window


class AlertCursor(models.Model):
    """How far the rules have examined one audit chain. Its row lock serialises evaluators of the
    chain, so that every event is examined exactly once."""

    chain = models.CharField(max_length=40, primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.chain} examined to {self.sequence}"


PENDING_DELIVERY = Q(email_status=DeliveryStatus.PENDING) | Q(webhook_status=DeliveryStatus.PENDING)
