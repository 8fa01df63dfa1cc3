from datetime import timedelta

from django.utils import timezone

from portal.models import ClinicSummary, Tenant, WorkerHeartbeat

SUMMARY_MAX_AGE = timedelta(minutes=1)
HEARTBEAT_MAX_AGE = timedelta(minutes=2)


def clinic_summary(tenant: Tenant) -> ClinicSummary | None:
    return ClinicSummary.objects.filter(tenant=tenant).first()


def summary_is_stale(summary: ClinicSummary | None) -> bool:
    return summary is None or timezone.now() - summary.refreshed_at > SUMMARY_MAX_AGE


def latest_worker_heartbeat() -> WorkerHeartbeat | None:
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


def worker_is_alive() -> bool:
    heartbeat = latest_worker_heartbeat()
    return heartbeat is not None and timezone.now() - heartbeat.seen_at <= HEARTBEAT_MAX_AGE
