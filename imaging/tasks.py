from datetime import timedelta
from itertools import groupby

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from imaging import thumbnails
from imaging.ingest.index import index_jobs
from imaging.ingest.receive import enqueue_indexing
from imaging.models import IngestJob, Series
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope

# A queued job untouched this long lost its message (dead broker, purged queue): queue it again.
STALLED_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 1000
# Jobs per indexing task when the sweeper re-queues: large enough to amortise, small enough to retry.
INDEX_BATCH = 100


# No result is kept: the job row is the record, and a dead result store must not block a sender.
@shared_task(
    ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=10
)
def index_received_objects(job_ids: list[str], tenant_id: int) -> int:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        return len(index_jobs(tenant, job_ids))


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def make_series_thumbnail(series_id: int, tenant_id: int) -> None:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        series = Series.objects.filter(pk=series_id).first()
        if series is not None:
            thumbnails.make_series_thumbnail(series)


@shared_task(ignore_result=True)
def requeue_stalled_ingest_jobs(older_than_seconds: float | None = None) -> int:
    """Run by beat: the outbox sweeper. Re-queuing a job whose message still exists is harmless:
    indexing does nothing for a job that is no longer queued."""
    older_than = STALLED_AFTER if older_than_seconds is None else timedelta(seconds=older_than_seconds)
    cutoff = timezone.now() - older_than
    # The sweeper looks after every clinic's outbox; indexing itself then runs in each job's own scope.
    with all_tenants_scope():
        stalled = list(
            IngestJob.objects.filter(state=IngestJob.State.QUEUED, updated_at__lt=cutoff)
            .only("pk", "tenant_id")
            .order_by("tenant_id", "updated_at")[:SWEEP_BATCH]
        )
        IngestJob.objects.filter(pk__in=[job.pk for job in stalled]).update(
            attempts=F("attempts") + 1, updated_at=timezone.now()
        )
    for _, tenant_jobs in groupby(stalled, key=lambda job: job.tenant_id):
        batch = list(tenant_jobs)
        for start in range(0, len(batch), INDEX_BATCH):
            enqueue_indexing(batch[start : start + INDEX_BATCH])
    return len(stalled)
