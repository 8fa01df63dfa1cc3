"""The DICOM information model (PS3.3 patient/study/series/instance), indexed per tenant.

The same Study Instance UID sent by two clinics is two studies forever: every uniqueness rule is
per tenant. The fields are the ones QIDO-RS matches and returns.
"""

from django.conf import settings
from django.db import models

from portal.models import TenantOwned


class Patient(TenantOwned):
    patient_id = models.CharField("Patient ID", max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=324, blank=True, help_text="PN value as sent, '^'-separated.")
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient_records",
        help_text="The portal account of the patient, once they have signed up with their access code.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient_id", "issuer_of_patient_id"], name="patient_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        # Identifiers, not names: model strings end up in logs and admin messages.
        return f"Patient #{self.pk}"


class Study(TenantOwned):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    study_instance_uid = models.CharField("Study Instance UID", max_length=64)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    study_id = models.CharField("Study ID", max_length=16, blank=True)
    description = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    modalities_in_study = models.CharField(max_length=128, blank=True, help_text="Backslash-separated.")
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-study_date", "-study_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "study_instance_uid"], name="study_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(TenantOwned):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField("Series Instance UID", max_length=64)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=64, blank=True)
    body_part_examined = models.CharField(max_length=16, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["series_number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "series_instance_uid"], name="series_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.series_instance_uid


class Instance(TenantOwned):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField("SOP Instance UID", max_length=64)
    sop_class_uid = models.CharField("SOP Class UID", max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sop_instance_uid"], name="instance_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.sop_instance_uid
