"""Retention rules, legal holds, erasure requests and certificates of destruction.

None of these rows holds PHI: studies and patients are named by internal IDs and UIDs, and the free
text (reasons) is written by staff, who are told not to put names in it.
"""

import uuid

from django.conf import settings
from django.db import models

from audit.models import AuditEvent
from imaging.models import Patient, Study
from portal.models import TenantOwned

_NO_PHI = "Say why, without patient names or other identifying details."


class RetentionRule(TenantOwned):
    """How long a clinic keeps its studies (imaging.retention.rules decides which rule applies).

    An adult's study (age at the study's date >= age_of_majority) is kept `years_after_study` years
    after its date. A minor's is kept until the patient is `minor_until_age` years old, or
    `years_after_study` years after the study, whichever is later. A study no active rule matches,
    or whose date or patient birth date is unknown, is never destroyed automatically.
    """

    modality = models.CharField(
        max_length=16, blank=True, help_text="A DICOM modality (CT, MR, …); empty for every modality."
    )
    years_after_study = models.PositiveIntegerField()
    age_of_majority = models.PositiveIntegerField(default=18)
    minor_until_age = models.PositiveIntegerField(default=25)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant_id", "modality"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "modality"], name="retention_rule_unique_per_modality")
        ]

    def __str__(self) -> str:
        return f"Retention of {self.modality or 'every modality'}: {self.years_after_study} years"


class LegalHold(TenantOwned):
    """Keeps a patient's studies, or one study, from any destruction until released explicitly."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="legal_holds"
    )
    # SET_NULL: a released hold stays on record after its study is destroyed, named by its UID. The
    # erasure service refuses a study under an active hold (imaging.retention.holds).
    study = models.ForeignKey(
        Study, on_delete=models.SET_NULL, null=True, blank=True, related_name="legal_holds"
    )
    study_instance_uid = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, help_text=_NO_PHI)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=500, blank=True, help_text=_NO_PHI)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        target = f"patient #{self.patient_id}" if self.patient_id else f"study {self.study_instance_uid}"
        return f"Legal hold on {target}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class DestructionCertificate(TenantOwned):
    """What was destroyed, when, on whose request and approval, and which copies in which regions.

    Written once, after the study's key was shredded and its copies deleted; its digest is in the
    audit event that records it, so that a changed certificate no longer matches the hash chain.
    """

    class Basis(models.TextChoices):
        RETENTION = "retention", "Retention period ended"
        ERASURE_REQUEST = "erasure_request", "Approved erasure request"
        # A backup from before a shredding was restored: the study's rows came back, its secret did not.
        RESTORE = "restore", "Erasure re-applied after a restore"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    basis = models.CharField(max_length=16, choices=Basis.choices)
    study_ref = models.PositiveBigIntegerField(help_text="The destroyed study's internal ID.")
    study_instance_uid = models.CharField(max_length=64)
    patient_ref = models.PositiveBigIntegerField(help_text="The patient's internal ID.")
    rule = models.ForeignKey(
        RetentionRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    series_count = models.PositiveIntegerField()
    instance_count = models.PositiveIntegerField()
    object_count = models.PositiveIntegerField()
    plaintext_bytes = models.PositiveBigIntegerField()
    ciphertext_bytes = models.PositiveBigIntegerField()
    copies = models.JSONField(help_text="[region, storage name] of every copy deleted.")
    key_shredded_at = models.DateTimeField()
    completed_at = models.DateTimeField()
    audit_event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-completed_at"]

    def __str__(self) -> str:
        return f"Certificate of destruction {self.pk}"

    @property
    def regions(self) -> list[str]:
        return sorted({region for region, _ in self.copies})


class ErasureRequest(TenantOwned):
    """A clinic admin's request to destroy one study, carried out only once approved.

    Two-person rule: another member with the right approves. A clinic with one admin alone may have
    that admin approve their own request, with a stated reason; the certificate then says so.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        REJECTED = "rejected", "Refused"
        DONE = "done", "Study destroyed"

    study = models.ForeignKey(Study, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    study_instance_uid = models.CharField(max_length=64)
    reason = models.CharField(max_length=500, help_text=_NO_PHI)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True, help_text=_NO_PHI)
    self_approved = models.BooleanField(
        default=False, help_text="Approved by the requester, the clinic's only admin, with a stated reason."
    )
    certificate = models.OneToOneField(
        DestructionCertificate, on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Erasure request {self.pk} ({self.state})"
