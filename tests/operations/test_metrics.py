"""/metrics: django-prometheus' request and database metrics and Palisade's own gauges, each checked
against a database state the test sets up; scraping is for allowed addresses or the bearer token only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

import audit
from audit import journal
from audit.alerts.models import Alert
from audit.models import AuditAction
from imaging.models import IngestJob, StoredObject
from imaging.replication.models import ObjectCopy, ScrubCursor
from portal.models import WorkerHeartbeat
from portal.tenancy import tenant_scope


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get(reverse("metrics"), **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _stored_object(tenant, n: int) -> StoredObject:
    return StoredObject.objects.create(
        tenant=tenant,
        region="eu-1",
        storage_name=f"metrics-test/{tenant.slug}/{n}",
        wrapped_key=b"k",
        plaintext_sha256="0" * 64,
        ciphertext_sha256="0" * 64,
        plaintext_size=1,
        ciphertext_size=1,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
    )


@pytest.fixture
def known_state(tenant, other_tenant):
    now = timezone.now()
    with tenant_scope(tenant):
        for minutes in (5, 20):
            job = IngestJob.objects.create(tenant=tenant, source=IngestJob.Source.STOW)
            IngestJob.objects.filter(pk=job.pk).update(created_at=now - timedelta(minutes=minutes))
        IngestJob.objects.create(tenant=tenant, source=IngestJob.Source.UPLOAD, state=IngestJob.State.STORED)
        pending = ObjectCopy.objects.create(
            tenant=tenant, stored_object=_stored_object(tenant, 1), region="eu-2", storage_name="x1"
        )
        ObjectCopy.objects.filter(pk=pending.pk).update(created_at=now - timedelta(minutes=10))
        ObjectCopy.objects.create(
            tenant=tenant,
            stored_object=_stored_object(tenant, 2),
            region="eu-2",
            storage_name="x2",
            state=ObjectCopy.State.CORRUPT,
        )
        ScrubCursor.objects.create(tenant=tenant, unrepairable=3, repaired=2, pass_finished_at=now)
        for n, acknowledged in enumerate((None, None, now)):
            Alert.objects.create(
                tenant=tenant,
                chain=f"tenant:{tenant.pk}",
                kind="storage_fault",
                severity="high",
                summary="test",
                subject_key=f"object:{n}",
                first_sequence=n + 1,
                last_sequence=n + 1,
                first_event_at=now,
                last_event_at=now,
                acknowledged_at=acknowledged,
            )
    with tenant_scope(other_tenant):
        IngestJob.objects.create(tenant=other_tenant, source=IngestJob.Source.DIMSE)
    WorkerHeartbeat.objects.create(hostname="worker-a@node1", seen_at=now - timedelta(seconds=45))
    WorkerHeartbeat.objects.create(hostname="worker-b@node2", seen_at=now - timedelta(seconds=400))
    return now


def test_palisade_gauges_match_the_database(client, known_state):
    samples = scrape(client)

    assert value(samples, "palisade_metrics_up") == 1
    assert value(samples, "palisade_ingest_queue_depth", tenant="alpha") == 2
    assert value(samples, "palisade_ingest_queue_depth", tenant="bravo") == 1
    assert 20 * 60 <= value(samples, "palisade_ingest_oldest_queued_age_seconds", tenant="alpha") < 21 * 60
    assert value(samples, "palisade_ingest_oldest_queued_age_seconds", tenant="bravo") < 60

    assert 10 * 60 <= value(samples, "palisade_replication_lag_seconds", tenant="alpha") < 11 * 60
    assert value(samples, "palisade_replication_lag_seconds", tenant="bravo") == 0
    assert value(samples, "palisade_replica_copies", tenant="alpha", state="pending") == 1
    assert value(samples, "palisade_replica_copies", tenant="alpha", state="corrupt") == 1
    assert value(samples, "palisade_replica_copies", tenant="alpha", state="ok") == 0

    assert value(samples, "palisade_scrub_unrepairable", tenant="alpha") == 3
    assert value(samples, "palisade_scrub_repaired", tenant="alpha") == 2
    assert value(samples, "palisade_scrub_unrepairable", tenant="bravo") == 0
    assert value(
        samples, "palisade_scrub_last_pass_finished_timestamp_seconds", tenant="alpha"
    ) == pytest.approx(known_state.timestamp())

    assert value(samples, "palisade_alerts_open", tenant="alpha", severity="high") == 2
    assert value(samples, "palisade_alerts_open", tenant="bravo", severity="high") == 0
    assert value(samples, "palisade_alerts_open", tenant="", severity="critical") == 0

    assert 45 <= value(samples, "palisade_worker_heartbeat_age_seconds", worker="worker-a@node1") < 100
    assert 400 <= value(samples, "palisade_worker_heartbeat_age_seconds", worker="worker-b@node2") < 460
    assert 45 <= value(samples, "palisade_worker_last_heartbeat_age_seconds") < 100


def test_gauges_follow_the_database_from_one_scrape_to_the_next(client, known_state, tenant):
    assert value(scrape(client), "palisade_ingest_queue_depth", tenant="alpha") == 2
    with tenant_scope(tenant):
        IngestJob.objects.filter(state=IngestJob.State.QUEUED).update(state=IngestJob.State.STORED)

    samples = scrape(client)

    assert value(samples, "palisade_ingest_queue_depth", tenant="alpha") == 0
    assert value(samples, "palisade_ingest_oldest_queued_age_seconds", tenant="alpha") == 0


def test_request_and_database_metrics_come_from_django_prometheus(client, db):
    client.get(reverse("healthz"))
    client.get(reverse("healthz"))

    samples = scrape(client)

    requests = sum(
        v
        for (name, labels), v in samples.items()
        if name == "django_http_responses_total_by_status_view_method_total"
        and dict(labels).get("view") == "healthz"
    )
    assert requests >= 2
    assert any(name == "django_db_execute_total" and v > 0 for (name, _), v in samples.items())


def test_no_phi_or_study_identifier_in_labels(client, known_state):
    text = client.get(reverse("metrics")).content.decode()
    for family in text_string_to_metric_families(text):
        if family.name.startswith("palisade_"):
            for sample in family.samples:
                assert set(sample.labels) <= {"tenant", "state", "severity", "worker"}


@pytest.mark.parametrize("address", ["203.0.113.7", "10.1.2.3", "2001:db8::1"])
def test_other_addresses_get_404(client, db, address):
    response = client.get(reverse("metrics"), REMOTE_ADDR=address)

    assert response.status_code == 404
    assert b"palisade_" not in response.content


def test_a_forwarded_for_header_does_not_open_it(client, db):
    response = client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert response.status_code == 404


def test_allowed_networks_and_the_bearer_token(client, db, settings):
    settings.PALISADE_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.PALISADE_METRICS_TOKEN = "a-long-random-scrape-token"

    assert client.get(reverse("metrics"), REMOTE_ADDR="10.9.8.7").status_code == 200
    assert client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1").status_code == 404
    assert (
        client.get(
            reverse("metrics"),
            REMOTE_ADDR="203.0.113.7",
            HTTP_AUTHORIZATION="Bearer a-long-random-scrape-token",
        ).status_code
        == 200
    )
    assert (
        client.get(
            reverse("metrics"), REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer wrong"
        ).status_code
        == 404
    )


def test_the_audit_journal_backlog_is_this_machines_unchained_events(client, tenant, settings, tmp_path):
    settings.PALISADE_AUDIT_JOURNAL_DIR = tmp_path
    assert value(scrape(client), "palisade_audit_journal_pending_bytes") == 0
    written = journal.Journal(tmp_path)
    waiting = audit.event(AuditAction.QUERY, tenant=tenant, object_type="study")
    waiting.occurred_at = timezone.now() - timedelta(seconds=90)
    written.append(waiting)

    samples = scrape(client)

    assert value(samples, "palisade_audit_journal_pending_bytes") == written.path.stat().st_size > 0
    assert 90 <= value(samples, "palisade_audit_journal_oldest_pending_seconds") < 150
    journal.drain(tmp_path, own=written.path)
    samples = scrape(client)
    assert value(samples, "palisade_audit_journal_pending_bytes") == 0
    assert value(samples, "palisade_audit_journal_oldest_pending_seconds") == 0
    written.close()
