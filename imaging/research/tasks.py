"""Celery tasks of research exports: each takes IDs, is idempotent, and is acknowledged late (settings)."""

from celery import shared_task
from django.utils import timezone

from imaging.research import exports
from imaging.research.models import ResearchExport
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope

MAX_RETRIES = 5


# OSError is what retrying mends (a full disk, storage or the destination unreachable); the export row
# is the record, so no result is kept.
@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=MAX_RETRIES)
def run_research_export(self, export_id: str, tenant_id: int) -> None:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        try:
            exports.run_export(export_id)
        except OSError as failure:
            if self.request.retries >= MAX_RETRIES:
                _fail(export_id, f"The destination or storage stayed unavailable: {failure}")
                return
            raise self.retry(exc=failure, countdown=min(300, 10 * 2**self.request.retries)) from failure
        except Exception:
            # A fault of ours: the export must not show "running" forever. The traceback goes to the
            # worker's log (it names objects by internal id only), the clinic sees a failed export.
            _fail(
                export_id,
                "An unexpected error stopped the export; the operators can see it in the worker log.",
            )
            raise


def _fail(export_id: str, reason: str) -> None:
    export = ResearchExport.objects.filter(pk=export_id).first()
    if export is not None and export.state not in (ResearchExport.State.DONE, ResearchExport.State.FAILED):
        exports.fail(export, reason)


@shared_task(ignore_result=True)
def sweep_research_exports() -> tuple[int, int]:
    """Run by beat: queue again the exports whose message was lost, and delete expired archives."""
    now = timezone.now()
    with all_tenants_scope():
        stalled = list(exports.stalled_exports(now).values_list("pk", "tenant_id"))
        ResearchExport.objects.filter(pk__in=[pk for pk, _ in stalled]).update(updated_at=now)
        deleted = exports.forget_expired(now)
    for pk, tenant_id in stalled:
        run_research_export.delay(str(pk), tenant_id)
    return len(stalled), deleted
