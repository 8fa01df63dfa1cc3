"""Celery tasks of study downloads: each takes IDs, is idempotent, and is acknowledged late (settings)."""

from celery import shared_task
from django.utils import timezone

from imaging.downloads import services
from imaging.downloads.models import DownloadJob
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope

MAX_RETRIES = 5


# OSError is what retrying mends (a full disk, storage unreachable); the job row is the record, so no
# result is kept.
@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=MAX_RETRIES)
def build_study_download(self, job_id: str, tenant_id: int) -> None:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        try:
            services.build_download(job_id)
        except OSError as failure:
            if self.request.retries >= MAX_RETRIES:
                job = DownloadJob.objects.filter(pk=job_id).first()
                if job is not None:
                    services.fail(job, "The archive could not be stored; ask for it again later.")
                return
            raise self.retry(exc=failure, countdown=min(300, 10 * 2**self.request.retries)) from failure


@shared_task(ignore_result=True)
def sweep_study_downloads() -> tuple[int, int]:
    """Run by beat: queue again the jobs whose message was lost, and delete expired archives."""
    now = timezone.now()
    with all_tenants_scope():
        stalled = list(services.stalled_jobs(now).values_list("pk", "tenant_id"))
        DownloadJob.objects.filter(pk__in=[pk for pk, _ in stalled]).update(updated_at=now)
        deleted = services.forget_expired(now)
    for pk, tenant_id in stalled:
        build_study_download.delay(str(pk), tenant_id)
    return len(stalled), deleted
