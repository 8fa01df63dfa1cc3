"""A clinic's way in: its request to join, the invitations of its staff, the certificates of its DICOM
peers, and the checklist steps it chose to skip."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.roles import Role
from imaging.dimse.models import RemoteAE
from portal.models import Tenant, TenantOwned


class ClinicRequest(models.Model):
    """A clinic asking to join, from the public request page, until a platform operator decides.

    Platform-level, not tenant-owned: there is no tenant until the request is approved."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    clinic_name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code.")
    jurisdiction = models.CharField(max_length=8, help_text="Derived from the country.")
    slug = models.SlugField(max_length=40, help_text="The address the clinic wished for: /t/<slug>/.")
    contact_name = models.CharField(max_length=200)
    contact_email = models.EmailField(help_text="Becomes the clinic's first admin, by invitation.")
    privacy_contact_name = models.CharField(max_length=200)
    privacy_contact_email = models.EmailField()
    source_address = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "contact_email"]), models.Index(fields=["source_address"])]

    def __str__(self) -> str:
        return f"{self.clinic_name} ({self.slug})"


class Invitation(TenantOwned):
    """An invitation of one person to one clinic with one role. Only the SHA-256 of its token is kept;
    the token itself is in the e-mail, never in the database."""

    email = models.EmailField()
    role = models.CharField(max_length=32, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when a platform operator's approval sent it.",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation {self.pk} as {self.role}"

    def state_at(self, now) -> str:
        """`accepted`, `revoked`, `expired` or `pending`."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "pending" if now < self.expires_at else "expired"


class PeerCertificate(TenantOwned):
    """The TLS client certificate a clinic uploaded for one of its DICOM peers, kept so that the clinic
    can see what it pinned (fingerprint, expiry). What the listener checks is RemoteAE.tls_subject."""

    remote_ae = models.OneToOneField(RemoteAE, on_delete=models.CASCADE, related_name="certificate")
    pem = models.TextField()
    subject = models.CharField(max_length=500)
    fingerprint_sha256 = models.CharField(max_length=64)
    not_after = models.DateTimeField()
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"Certificate of peer {self.remote_ae_id}"


class OnboardingStep(models.TextChoices):
    ACCOUNT = "account", "Password and second factor"
    AGREEMENTS = "agreements", "Agreements in force"
    REGION = "region", "Home region chosen"
    PEERS = "peers", "DICOM peers registered"
    MEMBERS = "members", "Members invited"
    FIRST_STUDY = "first_study", "First study ingested"


# The steps a clinic may pass without doing: a clinic that only uploads from browsers has no DICOM peer,
# and a clinic of one person has no one to invite.
SKIPPABLE_STEPS = (OnboardingStep.PEERS, OnboardingStep.MEMBERS)


class SkippedStep(TenantOwned):
    """A checklist step a clinic admin chose to skip (SKIPPABLE_STEPS only)."""

    step = models.CharField(max_length=16, choices=OnboardingStep.choices)
    skipped_at = models.DateTimeField(default=timezone.now)
    skipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "step"], name="onboarding_skip_once")]

    def __str__(self) -> str:
        return f"Skipped {self.step}"
