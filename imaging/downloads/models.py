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

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"Download {self.pk} ({self.state})"

    def is_expired_at(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())
