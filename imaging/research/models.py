"""Research projects, the clinic's device masks, and the de-identified exports run for a project.

What leaves is decided by imaging.deid (PS3.15 Annex E); these rows hold a clinic's choices for it and
the record of each export. No row here holds PHI: an export's report counts patients and names refusal
reasons, and its query holds the filters a research manager typed (dates, modality, UIDs).
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from imaging.deid import MaskRule, PixelPolicy, Profile, SafePrivate
from portal.models import Tenant, TenantOwned


class ResearchProject(TenantOwned):
    """A study a clinic supplies de-identified images to: which Annex E options apply, and where the
    objects go. Its pseudonym key (`secret_sealed`, 32 random bytes sealed under the clinic's key by
    imaging.research.sealing) makes every export of the project agree on UIDs, patient pseudonyms and
    date shifts, and differ from every other project's. Neither it nor the DICOMweb token is ever shown."""

    class BurnedIn(models.TextChoices):
        REFUSE = "refuse", "Leave out images with burned-in annotation"
        CLEAN = "clean", "Black out burned-in annotation where a device mask is known, else leave out"

    class Destination(models.TextChoices):
        ZIP = "zip", "An encrypted ZIP archive, downloaded by the project's managers"
        TENANT = "tenant", "Another clinic of this platform"
        DICOMWEB = "dicomweb", "A DICOMweb archive (STOW-RS)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    purpose = models.TextField(help_text="What the images are for, as approved.")
    recipients = models.TextField(help_text="Who receives the images.")
    options = models.JSONField(default=list, blank=True, help_text="Annex E option names, kebab case.")
    safe_private = models.JSONField(
        default=list, blank=True, help_text="[private creator, group, element offset] of each kept attribute."
    )
    burned_in = models.CharField(max_length=8, choices=BurnedIn.choices, default=BurnedIn.REFUSE)
    destination = models.CharField(max_length=8, choices=Destination.choices, default=Destination.ZIP)
    destination_tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stow_url = models.URLField(max_length=500, blank=True)
    stow_token_sealed = models.BinaryField(default=b"", blank=True, editable=False)
    secret_sealed = models.BinaryField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="research_project_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def profile(self) -> Profile:
        """Raises ValueError when the stored options no longer make a profile (a newer edition)."""
        return Profile.from_names(
            self.options,
            [SafePrivate(creator, group, element) for creator, group, element in self.safe_private],
        )

    @property
    def has_stow_token(self) -> bool:
        return bool(self.stow_token_sealed)


class DeviceMask(TenantOwned):
    """Where one device model of the clinic burns text into its images, and whether it does so without
    setting Burned In Annotation (the clinic's burned-in list). Feeds imaging.deid.PixelPolicy."""

    manufacturer = models.CharField(max_length=64)
    model = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(null=True, blank=True, help_text="Only images of this height.")
    columns = models.PositiveIntegerField(null=True, blank=True, help_text="Only images of this width.")
    rectangles = models.JSONField(default=list, blank=True, help_text="[x, y, width, height] in pixels.")
    flagged = models.BooleanField(
        default=False, help_text="Burns text in even when its images say Burned In Annotation NO."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["manufacturer", "model", "rows", "columns"]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model}"

    def rule(self) -> MaskRule:
        return MaskRule(
            self.manufacturer,
            self.model,
            tuple(tuple(rectangle) for rectangle in self.rectangles),
            rows=self.rows,
            columns=self.columns,
        )

    @classmethod
    def pixel_policy(cls, burned_in: str) -> PixelPolicy:
        """The scoped clinic's masks and burned-in list, under `burned_in` (refuse or clean)."""
        masks = list(cls.objects.all())
        return PixelPolicy(
            burned_in=burned_in,
            masks=tuple(mask.rule() for mask in masks if mask.rectangles),
            flagged_devices=tuple(
                sorted({(mask.manufacturer, mask.model) for mask in masks if mask.flagged})
            ),
        )


class ResearchExport(TenantOwned):
    """One run of a project over a selection of the clinic's studies (imaging.research.exports)."""

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(ResearchProject, on_delete=models.PROTECT, related_name="exports")
    query = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The archive of a `zip` destination, stored encrypted like a study download (imaging.downloads).
    region = models.CharField(max_length=40, blank=True)
    storage_name = models.CharField(max_length=200, blank=True)
    archive_key_sealed = models.BinaryField(null=True, blank=True, editable=False)
    archive_size = models.PositiveBigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.state})"

    def is_expired_at(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def has_archive(self) -> bool:
        return self.state == self.State.DONE and bool(self.storage_name) and not self.is_expired_at()
