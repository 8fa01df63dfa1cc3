import socket

from celery import shared_task
from django.db import connection
from django.utils import timezone

from imaging.models import Instance, Patient, Study
from portal.models import ClinicSummary, Tenant, WorkerHeartbeat
from portal.tenancy import tenant_scope


@shared_task
def record_worker_heartbeat() -> str:
    """Run by beat: proves a worker consumes the queue (shown on dashboards and /readyz)."""
    hostname = socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"seen_at": timezone.now()})
    return hostname


@shared_task
def refresh_clinic_summary(tenant_id: int) -> dict[str, int]:
    """Recount one clinic's index inside its own scope; idempotent, safe to run twice."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        counts = {
            "patients": Patient.objects.count(),
            "studies": Study.objects.count(),
            "instances": Instance.objects.count(),
        }
        ClinicSummary.objects.update_or_create(
            tenant=tenant, defaults={**counts, "refreshed_at": timezone.now()}
        )
    return counts


@shared_task(ignore_result=True)
def refresh_planner_statistics() -> None:
    """Run by beat hourly. SQLite (the embedded default) keeps no statistics for its query planner
    until ANALYZE runs, and without them it picks the tenant index for every lookup, reading a whole
    clinic to find one patient or one study's series. The analysis limit makes ANALYZE sample each
    index instead of reading it all, so its time stays bounded however large the index grows; the sample
    must see past the first thousands of rows of a clinic, or the clinic looks small and the planner
    still reads all of it for one study's instances (tests/test_planner_statistics.py). PostgreSQL's
    autovacuum does this itself."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA analysis_limit = 10000")
        cursor.execute("ANALYZE")
