from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Sign-in"
    SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
    SIGN_OUT = "sign_out", "Sign-out"
    VIEW_STUDY_LIST = "view_study_list", "Viewed study list"
    VIEW_STUDY = "view_study", "Viewed study"
    QUERY = "query", "Queried studies"
    STORE = "store", "Stored an instance"
    STORE_REJECTED = "store_rejected", "Refused an instance"
    VIEW_INGEST_JOBS = "view_ingest_jobs", "Viewed ingestion jobs"
    SECURITY_ALERT = "security_alert", "Security alert"
    ADMIN_CHANGE = "admin_change", "Administrative change"
    API_TOKEN_ISSUED = "api_token_issued", "Issued an API token"
    STOW_REQUEST = "stow_request", "STOW-RS request"
    RETRIEVE = "retrieve", "Retrieved instances"
    ACCESS_DENIED = "access_denied", "Access refused"
    DIMSE_ASSOCIATION = "dimse_association", "DICOM association"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditEvent(models.Model):
    """One audited action. Carries identifiers (UIDs, internal IDs), never PHI values."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant = models.ForeignKey(
        "portal.Tenant", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    object_type = models.CharField(max_length=32, blank=True)
    object_ids = models.JSONField(default=list, blank=True)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    session_ref = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the session key: links events without storing it."
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["tenant", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.outcome}) at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
