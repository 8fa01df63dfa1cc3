"""Copies of stored objects in a tenant's replica regions, and where the integrity scrub stands.

The home copy is the StoredObject itself (its region and name); each replica region of the tenant gets
one ObjectCopy row, written before the copy is made (an outbox: a lost task message leaves a pending row
that the sweeper re-queues). Copies hold the ciphertext exactly as stored, under the same server-generated
name, so no row here holds PHI.
"""

from django.db import models

from imaging.models import StoredObject
from portal.models import TenantOwned


class ObjectCopy(TenantOwned):
    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be copied"
        OK = "ok", "Copied and verified"
        FAILED = "failed", "Copy failed after every retry"
        MISSING = "missing", "Missing from its region"
        CORRUPT = "corrupt", "Ciphertext does not match its hash"

    stored_object = models.ForeignKey(StoredObject, on_delete=models.CASCADE, related_name="copies")
    region = models.CharField(max_length=40)
    storage_name = models.CharField(max_length=200)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    ciphertext_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the ciphertext read back from the region at the last check.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Touched by each attempt: the sweeper re-queues a pending copy nobody has tried for a while.
    updated_at = models.DateTimeField(auto_now=True)
    copied_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stored_object", "region"], name="replication_one_copy_per_region"
            )
        ]
        # The lag (oldest pending copy) and the sweeper both look pending copies up by age.
        indexes = [models.Index(fields=["tenant", "state", "created_at"], name="replication_state_age")]

    def __str__(self) -> str:
        return f"Copy of {self.stored_object_id} in {self.region}"


class ScrubCursor(TenantOwned):
    """Where a tenant's scrub pass stands: objects are visited in primary-key order, so a stopped scrub
    (a --limit, a killed worker) continues after `last_object_id` instead of starting over."""

    last_object_id = models.UUIDField(null=True, blank=True)
    pass_started_at = models.DateTimeField(null=True, blank=True)
    pass_finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveBigIntegerField(default=0, help_text="Copies checked in the current pass.")
    repaired = models.PositiveBigIntegerField(default=0)
    unrepairable = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="replication_one_scrub_cursor_per_tenant")
        ]

    def __str__(self) -> str:
        return f"Scrub cursor of tenant {self.tenant_id}"
