"""Consents: the texts a clinic publishes, and each patient's decisions on them.

Nothing here is ever updated in place. A published text is a version; changing the words publishes the next
version. A decision is a row; withdrawing is a new row, so the history of what a patient agreed to, and
when, stays whole. The current state of a patient for a purpose is their latest decision.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from imaging.models import Patient
from portal.models import TenantOwned


class ConsentPurpose(models.TextChoices):
    SHARE_WITH_NAMED_DOCTORS = "share_with_named_doctors", "Sharing my images with doctors I am referred to"
    RESEARCH_DEIDENTIFIED = "research_deidentified", "Research use of my images, with identities removed"
    TRANSFER_TO_OTHER_CLINIC = "transfer_to_other_clinic", "Transfer of my images to another clinic"


class ConsentText(TenantOwned):
    """One published version of what a clinic asks its patients to agree to for one purpose."""

    purpose = models.CharField(max_length=32, choices=ConsentPurpose.choices)
    version = models.PositiveIntegerField()
    text = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "purpose", "version"], name="consent_text_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"Consent text {self.purpose} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        # Patients agreed to these exact words: a published version never changes.
        if not self._state.adding:
            raise ValidationError("A published consent text cannot be changed: publish a new version.")
        super().save(*args, **kwargs)


class ConsentDecision(TenantOwned):
    """A patient's answer to one version of a consent text. `withdrawn_at` marks a row that took back an
    earlier grant (as opposed to a first refusal)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consent_decisions")
    purpose = models.CharField(max_length=32, choices=ConsentPurpose.choices)
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="decisions")
    granted = models.BooleanField()
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The patient, or the member of staff who recorded a signed paper form.",
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [
            models.Index(
                fields=["tenant", "patient", "purpose", "decided_at"], name="consent_decision_latest"
            )
        ]

    def __str__(self) -> str:
        return f"Consent decision #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValidationError("A consent decision is history: record a new decision instead.")
        super().save(*args, **kwargs)


class ConsentRequirement(TenantOwned):
    """Which actions of a clinic need the patient's consent beyond those that always do (research export
    always needs research consent). A clinic without a row requires only those."""

    sharing_requires_consent = models.BooleanField(
        "Sharing with a doctor needs the patient's consent",
        default=False,
        help_text="When on, a study is shared with a doctor only if its patient agreed to sharing with named "
        "doctors.",
    )
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_consent_requirement_per_tenant")]

    def __str__(self) -> str:
        return f"Consent requirements of tenant {self.tenant_id}"
