"""The DICOM information model (PS3.3 patient/study/series/instance), indexed per tenant.

The same Study Instance UID sent by two clinics is two studies forever: every uniqueness rule is
per tenant. The fields are the ones QIDO-RS matches and returns.
"""

import uuid

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
    is_restricted = models.BooleanField(
        "restricted (VIP)",
        default=False,
        help_text="Every access to this patient's studies raises an alert to the clinic's privacy officers.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "patient_id", "issuer_of_patient_id"], name="patient_unique_per_tenant"
            )
        ]
        # QIDO-RS and C-FIND match on these (imaging.query); Patient ID is led by the constraint's index.
        indexes = [
            models.Index(fields=["tenant", "name"], name="patient_tenant_name"),
            models.Index(fields=["tenant", "birth_date"], name="patient_tenant_birth_date"),
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
        # With Django's own view_study: the per-study rights granted through django-guardian
        # (portal.sharing.StudyUserObjectPermission, read by accounts.policy).
        permissions = [("download_study", "Can download the study"), ("share_study", "Can share the study")]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "study_instance_uid"], name="study_unique_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "study_date", "study_time"], name="study_tenant_date_time"),
            models.Index(fields=["tenant", "accession_number"], name="study_tenant_accession"),
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
        indexes = [
            models.Index(fields=["tenant", "modality"], name="series_tenant_modality"),
            # Modalities In Study matches a study by the modalities of its series.
            models.Index(fields=["study", "modality"], name="series_study_modality"),
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


class StoredObject(TenantOwned):
    """One encrypted DICOM object in a region's storage, under a server-generated name.

    Its data key is random per object and stored wrapped: by the tenant key while the object waits
    to be indexed, then by its study's key, so that shredding the study key shreds the object.
    A SOP Instance received again with different bytes becomes a new version of its Instance.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, null=True, blank=True, related_name="versions"
    )
    version = models.PositiveIntegerField(default=1)
    region = models.CharField(max_length=40)
    storage_name = models.CharField(max_length=200, unique=True)
    wrapped_key = models.BinaryField()
    wrapping_tenant_key = models.ForeignKey(
        "imaging.TenantKey",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Set while the data key is wrapped by a tenant key; empty once wrapped by the study key.",
    )
    plaintext_sha256 = models.CharField(max_length=64)
    ciphertext_sha256 = models.CharField(max_length=64)
    plaintext_size = models.PositiveBigIntegerField()
    ciphertext_size = models.PositiveBigIntegerField()
    transfer_syntax_uid = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"Object {self.pk}"


class IngestJob(TenantOwned):
    """The outbox row of one received object: written with the object, before the sender is answered,
    so that a lost task message or a killed worker delays indexing but never loses the object."""

    class Source(models.TextChoices):
        STOW = "stow", "STOW-RS"
        UPLOAD = "upload", "Web upload"
        IMPORT = "import", "Bulk import"
        DIMSE = "dimse", "C-STORE"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting to be indexed"
        STORED = "stored", "Stored"
        DUPLICATE = "duplicate", "Already stored"
        NEW_VERSION = "new_version", "Stored as a new version"
        REJECTED = "rejected", "Rejected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=16, choices=Source.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    display_name = models.CharField(max_length=255, blank=True, help_text="File name as sent, for messages.")
    stored_object = models.OneToOneField(
        StoredObject, on_delete=models.SET_NULL, null=True, blank=True, related_name="ingest_job"
    )
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Index values parsed on receipt; cleared once indexed."
    )
    error_code = models.CharField(max_length=32, blank=True)
    error_reason = models.CharField(max_length=500, blank=True)
    failure_reason = models.PositiveIntegerField(null=True, blank=True, help_text="PS3.18 failure status.")
    sop_instance_uid = models.CharField(max_length=64, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"Ingest job {self.pk} ({self.state})"


class SeriesThumbnail(TenantOwned):
    """A small PNG of a series (a middle frame of one of its instances), encrypted under the study key.

    A series whose instances cannot be rendered (reports, waveforms, unsupported encodings) keeps a
    row with the reason and no blob, so that the worker does not try again on every instance.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    series = models.OneToOneField(Series, on_delete=models.CASCADE, related_name="thumbnail")
    region = models.CharField(max_length=40, blank=True)
    storage_name = models.CharField(max_length=200, blank=True)
    wrapped_key = models.BinaryField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Thumbnail of series #{self.series_id}"


from imaging.crypto.models import StudyKey, TenantKey  # noqa: E402,F401
from imaging.dimse.models import RemoteAE  # noqa: E402,F401
