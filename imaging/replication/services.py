"""Replica copies of stored objects: which exist, deleting them all, planning and making them.

Every write into a region on behalf of a tenant goes through `write_copy`, which asserts the residency
first (`assert_residency`): the region must be the tenant's home or one of its replica regions, and lie
in the home region's jurisdiction, as the tenant row says at the time of the write. A violation raises
and nothing is written, whatever the database was made to hold.
"""

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.models import AuditAction, Outcome
from imaging import storage
from imaging.models import StoredObject
from imaging.replication.models import ObjectCopy
from portal import regions
from portal.models import Tenant
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)

# Objects per replication task: large enough to amortise a message, small enough to retry.
COPY_BATCH = 100


class ResidencyViolation(Exception):
    """A write into a region the tenant's residency does not allow: nothing is written, and the copy is
    reported failed or not repaired, with a security alert."""


def assert_residency(tenant: Tenant, region: str) -> None:
    """Raise ResidencyViolation unless `tenant` may hold a copy in `region`, per its row as stored now."""
    current = Tenant.objects.get(pk=tenant.pk)
    try:
        home = regions.jurisdiction_of(current.home_region)
        where = regions.jurisdiction_of(region)
    except ValidationError as exc:
        raise ResidencyViolation(f"Storage region {region!r} is not configured.") from exc
    if region not in {current.home_region, *current.replica_regions} or where != home:
        raise ResidencyViolation(
            f"Storage region {region} ({where}) is outside the residency of tenant {current.pk} ({home})."
        )


def write_copy(stored: StoredObject, source_region: str, target_region: str) -> str:
    """Copy the object's ciphertext, as it is, from one region to another under the same name, after
    asserting the residency of the target; returns the SHA-256 of what was written."""
    assert_residency(stored.tenant, target_region)
    return storage.copy_object(source_region, target_region, stored.storage_name)


def all_copies(stored: StoredObject) -> list[tuple[str, str]]:
    """(region, storage name) of every copy of the object that exists or may exist, the home copy first.

    Replica copies in any state are listed (a pending or failed copy may have been partly written),
    so that erasure and backup manifests miss none."""
    with tenant_scope(stored.tenant):
        replicas = list(
            ObjectCopy.objects.filter(stored_object=stored)
            .exclude(region=stored.region)
            .order_by("region")
            .values_list("region", "storage_name")
        )
    return [(stored.region, stored.storage_name), *replicas]


def delete_all_copies(stored: StoredObject) -> list[tuple[str, str]]:
    """Delete the object from every region it was copied to, home included; returns what was deleted
    (region, storage name), for a certificate of destruction. Deleting a copy that is already gone is
    not an error. Crypto-shred the study key before calling this: the ciphertext may also live in backups.

    The copy rows go first: a replication task still in flight then finds its row gone after its write
    and deletes what it wrote (see `replicate_copy`), so no replica outlives this call."""
    copies = all_copies(stored)
    with tenant_scope(stored.tenant), transaction.atomic():
        ObjectCopy.objects.filter(stored_object=stored).delete()
    for region, name in copies:
        storage.delete_object(region, name)
    return copies


def plan_copies(
    tenant: Tenant, objects: Iterable[StoredObject], in_regions: list[str] | None = None
) -> list[int]:
    """Record a pending copy of each object in each of the tenant's replica regions (or `in_regions`): the
    outbox. Their replication is queued once the caller's transaction commits. Returns the copies' ids.

    Called inside the tenant's scope by the step that stores and indexes objects; it never raises for
    a bad region: the copy is then refused, recorded as failed and alerted when it is made."""
    objects = list(objects)
    targets = tenant.replica_regions if in_regions is None else in_regions
    copies = [
        ObjectCopy(tenant=tenant, stored_object=stored, region=region, storage_name=stored.storage_name)
        for stored in objects
        for region in targets
        if region != stored.region
    ]
    if not copies:
        return []
    ObjectCopy.objects.bulk_create(copies, ignore_conflicts=True)
    pending = ObjectCopy.objects.filter(
        stored_object__in=objects, region__in=targets, state=ObjectCopy.State.PENDING
    )
    ids = list(pending.values_list("pk", flat=True))
    transaction.on_commit(lambda: enqueue_replication(tenant.pk, ids))
    return ids


def plan_missing_copies(tenant: Tenant) -> int:
    """For a tenant that gained a replica region: a pending copy of every object the region lacks.
    Returns how many were planned."""
    planned = 0
    for region in tenant.replica_regions:
        lacking = StoredObject.objects.exclude(copies__region=region).exclude(region=region).order_by("pk")
        # Each round takes the first objects that still lack a copy: the previous round gave its own one.
        while batch := list(lacking[: COPY_BATCH * 10]):
            with transaction.atomic():
                planned += len(plan_copies(tenant, batch, in_regions=[region]))
    return planned


def enqueue_replication(tenant_id: int, copy_ids: list[int]) -> None:
    """Queue the copies in batches; if the broker is down, the sweeper queues them later."""
    from kombu.exceptions import OperationalError as BrokerError

    from imaging.replication.tasks import replicate_object_copies

    for start in range(0, len(copy_ids), COPY_BATCH):
        try:
            replicate_object_copies.delay(copy_ids[start : start + COPY_BATCH], tenant_id)
        except BrokerError:
            logger.warning("Broker unreachable; %d copies wait for the replication sweeper", len(copy_ids))
            return


class CopyUnavailable(Exception):
    """No copy of the object with the right ciphertext hash could be read to copy from."""


def replicate_copy(copy: ObjectCopy) -> None:
    """Make one pending (or failed) copy and verify it; idempotent. A copy already in its region with
    the right hash is accepted as it is, so a redelivered task never writes twice. Raises on a storage
    error (the task retries) and on a residency violation (never retried: see `refuse_copy`)."""
    stored = copy.stored_object
    ObjectCopy.objects.filter(pk=copy.pk).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    digest = storage.object_sha256(copy.region, copy.storage_name)
    if digest is None:
        digest = copy_from_a_good_copy(stored, copy.region)
    elif digest != stored.ciphertext_sha256:
        # Something else is under the copy's name: never overwritten here, scrub --repair replaces it.
        ObjectCopy.objects.filter(pk=copy.pk).update(
            state=ObjectCopy.State.CORRUPT, ciphertext_sha256=digest, last_error="ciphertext hash mismatch"
        )
        raise CopyUnavailable(f"copy of object {stored.pk} in {copy.region} does not match its hash")
    now = timezone.now()
    updated = ObjectCopy.objects.filter(pk=copy.pk).update(
        state=ObjectCopy.State.OK, ciphertext_sha256=digest, copied_at=now, verified_at=now, last_error=""
    )
    if not updated:
        # Erased while we copied (delete_all_copies): what we wrote must not outlive the erasure.
        storage.delete_object(copy.region, copy.storage_name)


def copy_from_a_good_copy(stored: StoredObject, target_region: str, sources: list[str] | None = None) -> str:
    """Write the object into `target_region`, where it is missing, from the first of `sources` (by
    default every region holding it, home first) whose ciphertext has the recorded hash; returns that
    hash. Bytes that turn out wrong are deleted again."""
    for source_region in readable_regions(stored) if sources is None else sources:
        if source_region == target_region:
            continue
        try:
            digest = write_copy(stored, source_region, target_region)
        except FileNotFoundError:
            continue
        if digest == stored.ciphertext_sha256:
            return digest
        storage.delete_object(target_region, stored.storage_name)
    raise CopyUnavailable(f"no good copy of object {stored.pk} to copy into {target_region}")


def readable_regions(stored: StoredObject) -> list[str]:
    """Regions to read the object from, most trusted first: home, then the replicas last verified
    good, then the others (a copy may have been written or repaired since it was last checked).
    Reads the database: call inside the tenant's scope."""
    replicas = (
        ObjectCopy.objects.filter(stored_object=stored).exclude(region=stored.region).order_by("region")
    )
    states = dict(replicas.values_list("region", "state"))
    good = [region for region, state in states.items() if state == ObjectCopy.State.OK]
    return [stored.region, *good, *(region for region in states if region not in good)]


def refuse_copy(copy: ObjectCopy, reason: ResidencyViolation) -> None:
    """Record a copy refused by the residency rule as failed, and raise a security alert."""
    ObjectCopy.objects.filter(pk=copy.pk).update(state=ObjectCopy.State.FAILED, last_error=str(reason)[:300])
    audit.record(
        AuditAction.SECURITY_ALERT,
        tenant=copy.tenant,
        outcome=Outcome.FAILURE,
        object_type="stored_object",
        object_ids=[str(copy.stored_object_id)],
        details={"alert": "residency_violation", "region": copy.region},
    )


def give_up_copies(tenant: Tenant, copy_ids: list[int], error: Exception) -> None:
    """After the last retry: the copies not made are failed, and an alert names them (ids only)."""
    failed = list(
        ObjectCopy.objects.filter(pk__in=copy_ids)
        .exclude(state=ObjectCopy.State.OK)
        .values_list("stored_object_id", "region")
    )
    if not failed:
        return
    ObjectCopy.objects.filter(pk__in=copy_ids).exclude(state=ObjectCopy.State.OK).update(
        state=ObjectCopy.State.FAILED, last_error=f"{type(error).__name__}: {error}"[:300]
    )
    audit.record(
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        outcome=Outcome.FAILURE,
        object_type="stored_object",
        object_ids=sorted({str(stored_id) for stored_id, _ in failed}),
        details={"alert": "replication_failed", "regions": sorted({region for _, region in failed})},
    )
