"""Reads about replication: how far a tenant's replicas lag behind (its RPO) and their states."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min
from django.utils import timezone

from imaging.replication.models import ObjectCopy
from portal.models import Tenant


@dataclass(frozen=True)
class ReplicationStatus:
    """`lag` is the age of the oldest copy not yet made (zero when every copy is made): what a loss of
    the home region now would lose, the recovery point. `failed` counts copies given up after their
    retries, and copies the scrub found missing or corrupt, until repaired."""

    replica_regions: list[str]
    lag: timedelta
    pending: int
    failed: int
    ok: int


def replication_status(tenant: Tenant, *, now: datetime | None = None) -> ReplicationStatus:
    """Call inside the tenant's scope."""
    now = now or timezone.now()
    counts = dict(
        ObjectCopy.objects.values_list("state").annotate(n=Count("pk")).order_by().values_list("state", "n")
    )
    oldest = ObjectCopy.objects.filter(state=ObjectCopy.State.PENDING).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]
    return ReplicationStatus(
        replica_regions=list(tenant.replica_regions),
        lag=max(now - oldest, timedelta(0)) if oldest else timedelta(0),
        pending=counts.get(ObjectCopy.State.PENDING, 0),
        failed=sum(
            counts.get(state, 0)
            for state in (ObjectCopy.State.FAILED, ObjectCopy.State.MISSING, ObjectCopy.State.CORRUPT)
        ),
        ok=counts.get(ObjectCopy.State.OK, 0),
    )


def replication_lag(tenant: Tenant) -> timedelta:
    """The tenant's replication lag (RPO): the age of its oldest pending copy. Inside its scope."""
    return replication_status(tenant).lag
