"""Prometheus metrics at /metrics: django-prometheus' request and database metrics, and Palisade's own.

Palisade's gauges are computed from the database when Prometheus scrapes, not kept in process memory,
so every web node reports the same figures and a restart loses nothing. Labels are clinic slugs, region
names, job and copy states and worker host names: never a patient, a study or a user.

Who may scrape (docs/operations.md): the addresses in PALISADE_METRICS_ALLOWED_IPS (loopback by
default), or a request carrying `Authorization: Bearer <PALISADE_METRICS_TOKEN>`. Anyone else gets 404,
as for a page that does not exist.
"""

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator

import prometheus_client
from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


class PalisadeCollector(Collector):
    """Ingestion queue, replication lag, scrub findings, open alerts, worker heartbeats, and this
    machine's audit journal backlog (read from its folder, not the database)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from portal.tenancy import all_tenants_scope

        started = time.monotonic()
        try:
            # Every clinic's figures: platform monitoring, outside any one clinic's scope (the figures
            # are counts and ages, never rows).
            with all_tenants_scope():
                yield from self._ingest()
                yield from self._replication()
                yield from self._scrub()
                yield from self._alerts()
                yield from self._workers()
                yield from self._audit_journal()
        except Exception as exc:
            # A scrape with the database down still answers the request metrics; this gauge says why
            # Palisade's own are missing.
            logger.warning("Metrics: Palisade's gauges unavailable: %s", type(exc).__name__)
            up = GaugeMetricFamily("palisade_metrics_up", "1 when Palisade's own gauges could be computed.")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("palisade_metrics_up", "1 when Palisade's own gauges could be computed.")
        up.add_metric([], 1)
        yield up
        took = GaugeMetricFamily(
            "palisade_metrics_collect_seconds", "Time taken to compute Palisade's gauges for this scrape."
        )
        took.add_metric([], time.monotonic() - started)
        yield took

    @staticmethod
    def _slugs() -> dict[int, str]:
        from portal.models import Tenant

        return dict(Tenant.objects.values_list("pk", "slug"))

    def _ingest(self) -> Iterator[GaugeMetricFamily]:
        from imaging.models import IngestJob

        now = timezone.now()
        slugs = self._slugs()
        depth = GaugeMetricFamily(
            "palisade_ingest_queue_depth",
            "Received objects waiting to be indexed (ingest jobs in state queued), per clinic.",
            labels=["tenant"],
        )
        oldest = GaugeMetricFamily(
            "palisade_ingest_oldest_queued_age_seconds",
            "Age of the oldest ingest job still queued, per clinic (0 when none is): the ingestion lag.",
            labels=["tenant"],
        )
        rows = {
            row["tenant_id"]: row
            for row in IngestJob.objects.filter(state=IngestJob.State.QUEUED)
            .values("tenant_id")
            .annotate(n=Count("pk"), oldest=Min("created_at"))
            .order_by()
        }
        for tenant_id, slug in sorted(slugs.items(), key=lambda item: item[1]):
            row = rows.get(tenant_id)
            depth.add_metric([slug], row["n"] if row else 0)
            oldest.add_metric([slug], max((now - row["oldest"]).total_seconds(), 0.0) if row else 0.0)
        yield depth
        yield oldest

    def _replication(self) -> Iterator[GaugeMetricFamily]:
        from imaging.replication.models import ObjectCopy
        from imaging.replication.selectors import replication_status
        from portal.models import Tenant
        from portal.tenancy import tenant_scope

        lag = GaugeMetricFamily(
            "palisade_replication_lag_seconds",
            "Age of the clinic's oldest replica copy not yet made (its recovery point), 0 when none is "
            "pending.",
            labels=["tenant"],
        )
        copies = GaugeMetricFamily(
            "palisade_replica_copies",
            "Replica copies by state (pending, ok, failed, missing, corrupt), per clinic.",
            labels=["tenant", "state"],
        )
        for tenant in Tenant.objects.order_by("slug"):
            # imaging.replication's own definition of the lag, read in the clinic's scope as it requires.
            with tenant_scope(tenant):
                status = replication_status(tenant)
                counts = dict(
                    ObjectCopy.objects.values_list("state")
                    .annotate(n=Count("pk"))
                    .order_by()
                    .values_list("state", "n")
                )
            lag.add_metric([tenant.slug], status.lag.total_seconds())
            for state in ObjectCopy.State.values:
                copies.add_metric([tenant.slug, state], counts.get(state, 0))
        yield lag
        yield copies

    def _scrub(self) -> Iterator[GaugeMetricFamily]:
        from imaging.replication.models import ScrubCursor

        slugs = self._slugs()
        unrepairable = GaugeMetricFamily(
            "palisade_scrub_unrepairable",
            "Copies the integrity scrub found missing or corrupt and could not repair, in the clinic's "
            "current scrub pass.",
            labels=["tenant"],
        )
        repaired = GaugeMetricFamily(
            "palisade_scrub_repaired",
            "Copies the integrity scrub repaired in the clinic's current scrub pass.",
            labels=["tenant"],
        )
        finished = GaugeMetricFamily(
            "palisade_scrub_last_pass_finished_timestamp_seconds",
            "When the clinic's last complete scrub pass finished (Unix time).",
            labels=["tenant"],
        )
        cursors = {cursor.tenant_id: cursor for cursor in ScrubCursor.objects.all()}
        for tenant_id, slug in sorted(slugs.items(), key=lambda item: item[1]):
            cursor = cursors.get(tenant_id)
            unrepairable.add_metric([slug], cursor.unrepairable if cursor else 0)
            repaired.add_metric([slug], cursor.repaired if cursor else 0)
            if cursor and cursor.pass_finished_at:
                finished.add_metric([slug], cursor.pass_finished_at.timestamp())
        yield unrepairable
        yield repaired
        yield finished

    def _alerts(self) -> Iterator[GaugeMetricFamily]:
        from audit.alerts.models import Alert

        slugs = self._slugs()
        open_alerts = GaugeMetricFamily(
            "palisade_alerts_open",
            'Alerts not yet acknowledged, per clinic and severity (tenant "" for platform alerts).',
            labels=["tenant", "severity"],
        )
        counts = {
            (row["tenant_id"], row["severity"]): row["n"]
            for row in Alert.objects.filter(acknowledged_at__isnull=True)
            .values("tenant_id", "severity")
            .annotate(n=Count("pk"))
            .order_by()
        }
        severities = [choice for choice, _ in Alert._meta.get_field("severity").choices]
        for tenant_id, slug in [(None, ""), *sorted(slugs.items(), key=lambda item: item[1])]:
            for severity in severities:
                open_alerts.add_metric([slug, severity], counts.get((tenant_id, severity), 0))
        yield open_alerts

    def _workers(self) -> Iterator[GaugeMetricFamily]:
        from portal.models import WorkerHeartbeat

        now = timezone.now()
        per_worker = GaugeMetricFamily(
            "palisade_worker_heartbeat_age_seconds",
            "Seconds since each Celery worker last ran the periodic heartbeat task.",
            labels=["worker"],
        )
        newest = None
        for hostname, seen_at in WorkerHeartbeat.objects.values_list("hostname", "seen_at"):
            age = max((now - seen_at).total_seconds(), 0.0)
            per_worker.add_metric([hostname], age)
            newest = age if newest is None else min(newest, age)
        yield per_worker
        latest = GaugeMetricFamily(
            "palisade_worker_last_heartbeat_age_seconds",
            "Seconds since any Celery worker last ran the heartbeat task (+Inf when none ever did).",
        )
        latest.add_metric([], newest if newest is not None else float("inf"))
        yield latest

    def _audit_journal(self) -> Iterator[GaugeMetricFamily]:
        # This machine's journal folder: each web node reports its own (docs/audit.md).
        from audit.journal import backlog

        waiting = backlog(settings.PALISADE_AUDIT_JOURNAL_DIR)
        pending = GaugeMetricFamily(
            "palisade_audit_journal_pending_bytes",
            "Bytes of audit events in this machine's audit journal not yet chained into the audit trail.",
        )
        pending.add_metric([], waiting.pending_bytes)
        yield pending
        oldest = GaugeMetricFamily(
            "palisade_audit_journal_oldest_pending_seconds",
            "Age of the oldest audit event in this machine's journal not yet chained (0 when none is).",
        )
        oldest.add_metric([], waiting.oldest_event_seconds)
        yield oldest


_COLLECTOR = PalisadeCollector()
_registered = False


def register() -> None:
    """Add Palisade's collector to the default registry once per process."""
    global _registered
    if not _registered:
        prometheus_client.REGISTRY.register(_COLLECTOR)
        _registered = True


def _address_allowed(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for allowed in settings.PALISADE_METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(allowed.strip(), strict=False):
                return True
        except ValueError:
            logger.warning("PALISADE_METRICS_ALLOWED_IPS: %r is not an address or network", allowed)
    return False


def _token_matches(request: HttpRequest) -> bool:
    token = settings.PALISADE_METRICS_TOKEN
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def may_scrape(request: HttpRequest) -> bool:
    # REMOTE_ADDR, as the ASGI server resolved it from trusted proxies (accounts.lockout.client_address):
    # a client's own X-Forwarded-For is never believed.
    return _token_matches(request) or _address_allowed(request.META.get("REMOTE_ADDR"))


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        raise Http404
    register()
    registry = prometheus_client.REGISTRY
    return HttpResponse(
        prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )
