"""Agreements a clinic must have in force before Palisade may hold its PHI: the Business Associate
Agreement (HIPAA 164.308(b)), the Data Processing Agreement (GDPR article 28) and the terms of service.

Texts are platform-wide and versioned; an acceptance is one clinic's signature of one version, with the
signer, their role, the date, the SHA-256 of the exact text signed, and an expiry."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import TenantOwned


class AgreementKind(models.TextChoices):
    BAA = "baa", "Business Associate Agreement"
    DPA = "dpa", "Data Processing Agreement"
    TERMS = "terms", "Terms of service"


class AgreementText(models.Model):
    """One published version of an agreement. Never edited once accepted: publish a new version."""

    kind = models.CharField(max_length=8, choices=AgreementKind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="The full text the signer reads and accepts.")
    sha256 = models.CharField(max_length=64, editable=False)
    published_at = models.DateTimeField(default=timezone.now)
    term_days = models.PositiveIntegerField(
        default=365, help_text="How long an acceptance of this version stays in force."
    )

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="one_text_per_kind_version")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        self.sha256 = hashlib.sha256(self.body.encode()).hexdigest()
        super().save(*args, **kwargs)


class AgreementAcceptance(TenantOwned):
    """A clinic's signature of one agreement version."""

    text = models.ForeignKey(AgreementText, on_delete=models.PROTECT, related_name="acceptances")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=200)
    signer_role = models.CharField(max_length=200, help_text="The signer's position at the clinic.")
    signed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # The hash of the text as it was signed, kept apart from the text's own so a later edit shows.
    document_sha256 = models.CharField(max_length=64)
    # When the 30-day expiry warning went out, so it goes out once.
    expiry_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.text} accepted by tenant {self.tenant_id}"
