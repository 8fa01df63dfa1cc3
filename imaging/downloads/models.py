"""A study download: the archive a worker builds for one person, and its bounded lifetime."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import TenantOwned


class DownloadJob(TenantOwned):
    """One requested download of a study (imaging.downloads.services). The archive it produces is
    stored encrypted under the study's key, like every blob: shredding the study shreds it too."""

    class Format(models.TextChoices):
        DICOM_ZIP = "dicom_zip", "DICOM files with a DICOMDIR (ZIP)"
        JPEG_ZIP = "jpeg_zip", "JPEG images (ZIP)"
        # Asked for from the study's de-identified download page (imaging.research), never offered with
        # the formats above: it needs the patient's research consent and a de-identification profile.
        DEIDENTIFIED_DICOM_ZIP = "deid_dicom_zip", "De-identified DICOM files (ZIP)"

    # The formats of the study's own download page.
    IDENTIFIED_FORMATS = (Format.DICOM_ZIP, Format.JPEG_ZIP)

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting"
        BUILDING = "building", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey("imaging.Study", on_delete=models.CASCADE, related_name="download_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    share_link = models.ForeignKey(
        "sharing.ShareLink",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The share link whose visitor asked for it (a visitor has no account).",
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    region = models.CharField(max_length=40, blank=True)
    storage_name = models.CharField(max_length=200, blank=True)
    wrapped_key = models.BinaryField(null=True, blank=True)
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()
    downloaded_count = models.PositiveIntegerField(default=0)
    # A de-identified download: the Annex E options asked for, or the research project whose options and
    # pseudonym key apply; and what the engine refused (imaging.research.deidentification.Tally).
    deid_options = models.JSONField(default=list, blank=True)
    deid_project = models.ForeignKey(
        "research.ResearchProject", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deid_report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"Download {self.pk} ({self.state})"

    def is_expired_at(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())
