"""The grants behind accounts.policy: each says who may see which study, until when.

A grant is never deleted when it ends: revocation and expiry are times on the row, so the clinic and the
patient can see what was shared with whom, and the policy reads them on every request (nothing cached),
so a revocation applies to the very next request.
"""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from imaging.models import Patient, Study
from portal.models import TenantOwned


class StudyUserObjectPermission(UserObjectPermissionBase):
    """django-guardian's per-study rights of one user (view_study, download_study, share_study), with a
    direct foreign key so that the policy can join on it instead of a text object id."""

    content_object = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="user_permissions")


class StudyGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian needs the group counterpart for direct foreign keys; Palisade grants to users only."""

    content_object = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="group_permissions")


def active_q(now: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}revoked_at__isnull": True, f"{prefix}expires_at__gt": now})


class Share(TenantOwned):
    """A study, or every study of a patient (present and future), shared with a member of the clinic,
    typically a referring doctor."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, null=True, blank=True, related_name="shares")
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, null=True, blank=True, related_name="shares"
    )
    grantee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_shares"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, help_text="For the doctor; never copied to logs or audit events.")
    allow_download = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True, help_text="When the doctor first opened it.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(study__isnull=False, patient__isnull=True)
                | Q(study__isnull=True, patient__isnull=False),
                name="share_of_one_study_or_one_patient",
            )
        ]
        indexes = [models.Index(fields=["tenant", "grantee", "expires_at"], name="share_grantee_expiry")]

    def __str__(self) -> str:
        return f"Share #{self.pk}"

    def is_active(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class ShareLink(TenantOwned):
    """A capability for someone without an account: whoever holds the token (and the PIN or e-mailed
    code, when set) sees the link's studies, and nothing else, until it ends. Only a hash of the token
    is kept."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    studies = models.ManyToManyField(Study, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="share_links"
    )
    label = models.CharField(max_length=120, blank=True, help_text="For the sharer: whom the link is for.")
    recipient_email = models.EmailField(blank=True, help_text="Where the one-time code is sent, if required.")
    requires_email_code = models.BooleanField(default=False)
    pin_hash = models.CharField(max_length=256, blank=True, editable=False)
    email_code_hash = models.CharField(max_length=256, blank=True, editable=False)
    email_code_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    allow_download = models.BooleanField(default=False)
    use_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Openings allowed; empty for no limit."
    )
    use_count = models.PositiveIntegerField(default=0)
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Share link #{self.pk}"

    def grants_access(self, now: datetime | None = None) -> bool:
        """Whether a visitor who already opened the link may go on using it."""
        return (
            self.revoked_at is None and self.locked_at is None and self.expires_at > (now or timezone.now())
        )


class ShareLinkUse(TenantOwned):
    """One opening of a share link, shown to the sharer."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="uses")
    used_at = models.DateTimeField(default=timezone.now)
    source_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["-used_at"]


class BreakGlassGrant(TenantOwned):
    """Emergency access of a clinician to a study they have no right to, after stating a reason;
    bounded in time, audited and alerted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="break_glass_grants"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="break_glass_grants")
    reason = models.TextField()
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["tenant", "user", "expires_at"], name="break_glass_user_expiry")]

    def __str__(self) -> str:
        return f"Break-the-glass #{self.pk}"

    def is_active(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or timezone.now())
