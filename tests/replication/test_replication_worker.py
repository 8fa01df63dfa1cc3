"""Replication by real Celery workers: queued by the ingest pipeline, swept when its message is lost,
retried, and failed with an alert after its last retry."""

import io
import json
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from audit.models import AuditAction, AuditEvent
from imaging.replication.models import ObjectCopy
from imaging.replication.tasks import MAX_RETRIES, replicate_object_copies, requeue_stalled_copies
from imaging.storage import object_sha256, region_storage
from portal.celery import app
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.replication.conftest import ingest_samples, set_replicas

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("regions"),
]


def start_worker(worker_factory):
    # The worker reads its regions from the environment, as in production.
    return worker_factory(PALISADE_STORAGE=json.dumps(settings.PALISADE_STORAGE))


def wait_for_copies(tenant, count: int, timeout: float = 90.0) -> list[ObjectCopy]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            copies = list(
                ObjectCopy.objects.select_related("stored_object").filter(state=ObjectCopy.State.OK)
            )
        if len(copies) == count:
            return copies
        time.sleep(0.3)
    with tenant_scope(tenant):
        states = list(ObjectCopy.objects.values_list("region", "state", "last_error"))
    raise AssertionError(f"copies after {timeout}s: {states}")


def test_an_imported_study_is_replicated_by_the_worker(tenant, worker_factory):
    set_replicas(tenant, "eu-2", "eu-s3")
    start_worker(worker_factory)

    call_command("import_dicom", tenant.slug, str(SAMPLES / "CT_small.dcm"), stdout=io.StringIO())

    copies = wait_for_copies(tenant, 2)
    assert {copy.region for copy in copies} == {"eu-2", "eu-s3"}
    for copy in copies:
        assert object_sha256(copy.region, copy.storage_name) == copy.stored_object.ciphertext_sha256


def test_a_copy_whose_message_was_lost_is_queued_again_by_the_sweeper(tenant, worker_factory):
    set_replicas(tenant, "eu-s3")
    ingest_samples(tenant, "CT_small.dcm")
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)  # the message is lost
    start_worker(worker_factory)

    assert requeue_stalled_copies(older_than_seconds=0) == 1

    wait_for_copies(tenant, 1)


def test_after_the_last_retry_the_copy_is_failed_and_alerted(tenant, tmp_path, settings):
    set_replicas(tenant, "eu-2")
    (stored,) = ingest_samples(tenant, "CT_small.dcm")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.PALISADE_STORAGE = {
        **settings.PALISADE_STORAGE,
        "eu-2": {"jurisdiction": "EU", "location": str(blocker)},
    }
    region_storage.cache_clear()
    with tenant_scope(tenant):
        ids = list(ObjectCopy.objects.values_list("pk", flat=True))

    # The body of the task as a worker runs its last retry (request.retries == max_retries).
    replicate_object_copies.push_request(retries=MAX_RETRIES)
    try:
        replicate_object_copies(ids, tenant.pk)
    finally:
        replicate_object_copies.pop_request()

    with tenant_scope(tenant):
        copy = ObjectCopy.objects.get()
        alert = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT, tenant=tenant)
    assert copy.state == ObjectCopy.State.FAILED and copy.attempts == 1
    assert copy.last_error.startswith("NotADirectoryError")
    assert alert.details == {"alert": "replication_failed", "regions": ["eu-2"]}
    assert alert.object_ids == [str(stored.pk)]
