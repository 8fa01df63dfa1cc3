"""Replication and scrub tasks. Each takes ids, runs in the tenant's scope and can run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from imaging.replication import scrub, services
from imaging.replication.models import ObjectCopy
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope

logger = logging.getLogger(__name__)

# Retries of a batch whose copies could not all be made: backoff doubles from 10 s to 10 min, about an
# hour in all, before the copies are failed and alerted (scrub --repair still makes them later).
MAX_RETRIES = 8
# A pending copy untouched this long lost its message (dead broker, purged queue): queue it again.
STALLED_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 1000
# Objects the scheduled scrub checks per tenant and run, and how fast: a full pass of a large archive
# spreads over many runs (each resumes at the tenant's cursor) instead of saturating the storage.
SCHEDULED_SCRUB_LIMIT = 5000
SCHEDULED_SCRUB_RATE = 50.0


def _backoff(retries: int) -> int:
    return min(10 * 2**retries, 600)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=MAX_RETRIES)
def replicate_object_copies(self, copy_ids: list[int], tenant_id: int) -> int:
    """Make the copies among `copy_ids` that are not made yet; returns how many are made."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        copies = ObjectCopy.objects.select_related("stored_object", "tenant").filter(pk__in=copy_ids)
        error: Exception | None = None
        made = 0
        for copy in copies.exclude(state=ObjectCopy.State.OK):
            try:
                services.replicate_copy(copy)
                made += 1
            except services.ResidencyViolation as violation:
                services.refuse_copy(copy, violation)
            except Exception as exc:  # any storage failure: retried below, then alerted
                logger.warning("Copy %s to %s failed: %s", copy.pk, copy.region, type(exc).__name__)
                ObjectCopy.objects.filter(pk=copy.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:300])
                error = exc
        if error is None:
            return made
        if self.request.retries >= self.max_retries:
            services.give_up_copies(tenant, copy_ids, error)
            return made
    raise self.retry(exc=error, countdown=_backoff(self.request.retries))


@shared_task(ignore_result=True)
def requeue_stalled_copies(older_than_seconds: float | None = None) -> int:
    """Run by beat: the outbox sweeper. Re-queuing a copy whose message still exists is harmless."""
    older_than = STALLED_AFTER if older_than_seconds is None else timedelta(seconds=older_than_seconds)
    cutoff = timezone.now() - older_than
    with all_tenants_scope():
        stalled = list(
            ObjectCopy.objects.filter(state=ObjectCopy.State.PENDING, updated_at__lt=cutoff)
            .order_by("tenant_id", "updated_at")
            .values_list("tenant_id", "pk")[:SWEEP_BATCH]
        )
        ObjectCopy.objects.filter(pk__in=[pk for _, pk in stalled]).update(updated_at=timezone.now())
    by_tenant: dict[int, list[int]] = {}
    for tenant_id, pk in stalled:
        by_tenant.setdefault(tenant_id, []).append(pk)
    for tenant_id, ids in by_tenant.items():
        services.enqueue_replication(tenant_id, ids)
    return len(stalled)


@shared_task(
    ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5
)
def copy_to_new_replica_regions(tenant_id: int) -> int:
    """A tenant gained a replica region: copy everything it holds there."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        return services.plan_missing_copies(tenant)


@shared_task(ignore_result=True, acks_late=True)
def scrub_all_tenants(repair: bool = True) -> int:
    """Run by beat: a bounded, rate-limited slice of each active tenant's scrub, from its cursor."""
    checked = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        with tenant_scope(tenant):
            report = scrub.scrub_tenant(
                tenant, repair=repair, rate=SCHEDULED_SCRUB_RATE, limit=SCHEDULED_SCRUB_LIMIT
            )
        checked += report.objects
    return checked
