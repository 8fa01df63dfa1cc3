from django.conf import settings
from django.db import models
from django.utils import timezone


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
    SIGN_IN_LOCKED_OUT = "sign_in_locked_out", "Sign-in locked after failures"
    SIGN_IN_UNLOCKED = "sign_in_unlocked", "Unlocked sign-in"
    PASSWORD_CHANGED = "password_changed", "Changed a password"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Asked for a password reset"
    PASSWORD_RESET = "password_reset", "Set a password by reset e-mail"
    SESSION_REVOKED = "session_revoked", "Ended a session"
    SESSIONS_REVOKED_ALL = "sessions_revoked_all", "Ended all other sessions"
    SESSION_EXPIRED = "session_expired", "Session timed out"
    SESSIONS_ENDED = "sessions_ended", "Ended a user's sessions"
    MFA_ENROLLED = "mfa_enrolled", "Set up a second factor"
    MFA_REMOVED = "mfa_removed", "Removed a second factor"
    MFA_RESET = "mfa_reset", "Reset a user's second factors"
    MFA_VERIFIED = "mfa_verified", "Passed the second factor"
    MFA_FAILED = "mfa_failed", "Failed the second factor"
    MFA_BACKUP_CODE_USED = "mfa_backup_code_used", "Used a backup code"
    API_TOKEN_REVOKED = "api_token_revoked", "Revoked an API token"
    # Sharing and emergency access (portal.sharing).
    SHARE_GRANTED = "share_granted", "Shared with a doctor"
    SHARE_REVOKED = "share_revoked", "Ended a share"
    INVITATION_SENT = "invitation_sent", "Invited a doctor"
    SHARE_LINK_CREATED = "share_link_created", "Created a share link"
    SHARE_LINK_REVOKED = "share_link_revoked", "Revoked a share link"
    SHARE_LINK_OPENED = "share_link_opened", "Opened a share link"
    SHARE_LINK_FAILED = "share_link_failed", "Failed to open a share link"
    PERMISSION_GRANTED = "permission_granted", "Granted a per-study right"
    PERMISSION_REMOVED = "permission_removed", "Removed a per-study right"
    BREAK_THE_GLASS = "break_the_glass", "Broke the glass"
    DOWNLOAD = "download", "Downloaded a study"
    # Reading and exporting the trail, and its alerts (audit).
    AUDIT_VIEWED = "audit_viewed", "Read the audit trail"
    AUDIT_EXPORTED = "audit_exported", "Exported the audit trail"
    ALERT_RAISED = "alert_raised", "Raised an alert"
    ALERT_ACKNOWLEDGED = "alert_acknowledged", "Acknowledged an alert"
    # Patient onboarding (portal.patients).
    ACCESS_CODE_ISSUED = "access_code_issued", "Issued a patient access code"
    PATIENT_JOINED = "patient_joined", "Joined as a patient with an access code"
    PATIENT_JOIN_FAILED = "patient_join_failed", "Failed to join with an access code"
    # Patients' consents (portal.consents).
    CONSENT_GRANTED = "consent_granted", "Gave consent"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Withdrew consent"
    # Retention, legal holds, erasure (imaging.retention) and backups (imaging.backup).
    LEGAL_HOLD_PLACED = "legal_hold_placed", "Placed a legal hold"
    LEGAL_HOLD_RELEASED = "legal_hold_released", "Released a legal hold"
    ERASURE_REQUESTED = "erasure_requested", "Requested the erasure of a study"
    ERASURE_APPROVED = "erasure_approved", "Approved the erasure of a study"
    ERASURE_REJECTED = "erasure_rejected", "Refused the erasure of a study"
    STUDY_DESTROYED = "study_destroyed", "Destroyed a study (certificate of destruction)"
    BACKUP_CREATED = "backup_created", "Backed up the database"
    BACKUP_RESTORED = "backup_restored", "Restored the database from a backup"
    # Research projects and de-identified exports (imaging.research).
    RESEARCH_PROJECT_SAVED = "research_project_saved", "Saved a research project"
    DEVICE_MASK_SAVED = "device_mask_saved", "Saved a device mask"
    DEVICE_MASK_REMOVED = "device_mask_removed", "Removed a device mask"
    RESEARCH_EXPORT_STARTED = "research_export_started", "Started a research export"
    RESEARCH_EXPORT_FINISHED = "research_export_finished", "Finished a research export"
    DEIDENTIFIED_DOWNLOAD = "deidentified_download", "Downloaded de-identified images"
    # Clinic onboarding, agreements and clinic administration (portal.onboarding, portal.agreements,
    # portal.clinic_admin) and the compliance evidence (portal.compliance).
    CLINIC_REQUESTED = "clinic_requested", "Asked to join as a clinic"
    CLINIC_APPROVED = "clinic_approved", "Approved a clinic's request"
    CLINIC_DECLINED = "clinic_declined", "Declined a clinic's request"
    MEMBER_INVITED = "member_invited", "Invited a member of staff"
    MEMBER_JOINED = "member_joined", "Joined a clinic by invitation"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Changed a member's role"
    MEMBER_REMOVED = "member_removed", "Removed a member"
    POLICY_CHANGED = "policy_changed", "Changed a clinic policy"
    AGREEMENT_ACCEPTED = "agreement_accepted", "Accepted an agreement"
    REGION_CHOSEN = "region_chosen", "Chose the home region"
    AE_TITLE_REGISTERED = "ae_title_registered", "Registered a DICOM peer"
    AE_TITLE_REMOVED = "ae_title_removed", "Removed a DICOM peer"
    CLINIC_WENT_LIVE = "clinic_went_live", "Went live"
    COMPLIANCE_REPORT_VIEWED = "compliance_report_viewed", "Read the compliance report"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditEvent(models.Model):
    """One audited action. Carries identifiers (UIDs, internal IDs), never PHI values."""

    # Set by audit.chain before the hash is computed (auto_now_add would set it after).
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
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
    # Tamper evidence (audit/chain.py): one hash chain per tenant, and one for events of no tenant,
    # numbered from 1 without gaps; each hash covers the event's content and the previous hash.
    chain = models.CharField(max_length=40, editable=False)
    sequence = models.PositiveBigIntegerField(editable=False)
    previous_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["tenant", "occurred_at"])]
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="audit_event_chain_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.outcome}) at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class AuditChainHead(models.Model):
    """The newest link of each chain. Its row lock serialises the writers of one chain (audit.chain)."""

    chain = models.CharField(max_length=40, primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.chain} at {self.sequence}"


class AuditCheckpoint(models.Model):
    """A signed statement that a chain had reached `sequence` with `hash` (audit.checkpoints).

    The signing key lives outside the database, so cutting events off the end of a chain, which
    leaves an intact shorter chain, is still found: the chain no longer reaches a signed checkpoint.
    """

    chain = models.CharField(max_length=40)
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    public_key = models.CharField(max_length=64, help_text="Ed25519 public key, hex.")
    signature = models.CharField(max_length=128, help_text="Ed25519 signature, hex.")

    class Meta:
        ordering = ["chain", "-sequence"]
        indexes = [models.Index(fields=["chain", "sequence"])]

    def __str__(self) -> str:
        return f"{self.chain} checkpoint at {self.sequence}"


class SyslogCursor(models.Model):
    """How far one audit chain has been forwarded to the syslog collector (audit.exports.forwarding).

    The cursor moves only after a batch was written whole to the collector, so a collector that is
    down delays forwarding and never loses an event. `leased_until` keeps two workers from sending
    the same events at once without holding a database transaction open while the network is slow.
    """

    chain = models.CharField(max_length=40, primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0, help_text="The last event of the chain sent.")
    sent_at = models.DateTimeField(null=True, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text="Why the last attempt failed.")

    def __str__(self) -> str:
        return f"{self.chain} forwarded to {self.sequence}"


class AuditJournalCursor(models.Model):
    """How much of one web process's audit journal file has been chained (audit.journal).

    Moved in the same transaction as the events it covers, so a line of the journal is chained exactly
    once even when the process that drains it dies half-way.
    """

    name = models.CharField(max_length=200, primary_key=True, help_text="The journal file's name.")
    offset = models.PositiveBigIntegerField(default=0, help_text="Bytes of the file already chained.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} chained to byte {self.offset}"
