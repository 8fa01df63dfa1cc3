"""Ingestion with real worker processes: concurrency, a killed worker, a dead broker, a full disk."""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from imaging.models import IngestJob, Instance, SeriesThumbnail, StoredObject, Study
from imaging.tasks import requeue_stalled_ingest_jobs
from portal.tenancy import tenant_scope
from tests.conftest import ROOT, database_url
from tests.synthetic import write_ct_series

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BATCH = 200


def job_states(tenant) -> Counter[str]:
    with tenant_scope(tenant):
        return Counter(IngestJob.objects.values_list("state", flat=True))


def wait_until_nothing_is_queued(tenant, timeout: float = 180.0) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = job_states(tenant)
        if not states[IngestJob.State.QUEUED]:
            return states
        time.sleep(0.5)
    raise AssertionError(f"still queued after {timeout}s: {job_states(tenant)}")


def blobs_on_disk(tenant, *, thumbnails: bool = True) -> int:
    root = Path(settings.PALISADE_STORAGE[tenant.home_region]["location"]) / str(tenant.pk)
    return sum(
        1
        for p in root.rglob("*")
        if p.is_file()
        and not p.name.startswith(".partial-")
        and (thumbnails or p.parent.name != "thumbnails")
    )


def assert_stored_once(tenant, count: int) -> None:
    with tenant_scope(tenant):
        assert Instance.objects.count() == count
        assert StoredObject.objects.count() == count
        assert StoredObject.objects.filter(instance__isnull=True).count() == 0
        assert Study.objects.get().number_of_instances == count
    assert blobs_on_disk(tenant, thumbnails=False) == count


def import_quietly(tenant, folder: Path) -> None:
    with open(os.devnull, "w") as devnull:
        call_command("import_dicom", tenant.slug, str(folder), stdout=devnull, stderr=devnull)


def test_two_workers_ingesting_the_same_batch_side_by_side_store_each_instance_once(
    worker_factory, tenant, tmp_path
):
    write_ct_series(tmp_path / "batch", BATCH)
    worker_factory("first")
    worker_factory("second")

    import_quietly(tenant, tmp_path / "batch")
    import_quietly(tenant, tmp_path / "batch")
    states = wait_until_nothing_is_queued(tenant)

    assert states == {IngestJob.State.STORED: BATCH, IngestJob.State.DUPLICATE: BATCH}
    assert_stored_once(tenant, BATCH)


def test_a_worker_killed_mid_ingest_loses_nothing_once_a_worker_is_back(worker_factory, tenant, tmp_path):
    write_ct_series(tmp_path / "batch", BATCH)
    doomed = worker_factory("doomed")

    import_quietly(tenant, tmp_path / "batch")
    deadline = time.monotonic() + 120
    while job_states(tenant)[IngestJob.State.STORED] < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    doomed.kill()
    assert 0 < job_states(tenant)[IngestJob.State.QUEUED] < BATCH, "the kill must land mid-ingest"

    worker_factory("replacement")
    # The sweeper finds jobs whose message died with the worker (beat runs it every minute).
    requeue_stalled_ingest_jobs.delay(older_than_seconds=0)

    assert wait_until_nothing_is_queued(tenant) == {IngestJob.State.STORED: BATCH}
    assert_stored_once(tenant, BATCH)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, so that it can be stopped without touching anyone else's."""
    port = _free_port()

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.1)
        return process

    server = {"process": start()}
    yield port, server, start
    server["process"].terminate()
    server["process"].wait(timeout=20)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_upload_while_the_broker_is_down_is_delayed_not_lost(
    worker_factory, private_redis, tenant, tmp_path
):
    port, server, start_redis = private_redis
    broker = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    write_ct_series(tmp_path / "batch", 20)
    worker_factory("patient", **broker)
    server["process"].terminate()
    server["process"].wait(timeout=20)

    env = {**os.environ, **broker, "DATABASE_URL": database_url(connection.settings_dict)}
    upload = subprocess.run(
        [sys.executable, "manage.py", "import_dicom", tenant.slug, str(tmp_path / "batch")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert upload.returncode == 0, upload.stderr
    assert upload.stdout.strip().endswith("20 files: 20 waiting to be indexed.")
    assert job_states(tenant) == {IngestJob.State.QUEUED: 20}

    server["process"] = start_redis()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "call",
            "imaging.tasks.requeue_stalled_ingest_jobs",
            "--kwargs",
            '{"older_than_seconds": 0}',
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    assert wait_until_nothing_is_queued(tenant) == {IngestJob.State.STORED: 20}
    assert_stored_once(tenant, 20)


def test_a_full_disk_fails_the_import_and_leaves_nothing_half_written(tiny_disk, tenant, tmp_path):
    (tiny_disk / "ballast").write_bytes(bytes(200 * 1024))
    write_ct_series(tmp_path / "batch", 1, rows=256)  # ~128 KiB, more than the room left

    with pytest.raises(CommandError, match="Storage is full"):
        import_quietly(tenant, tmp_path / "batch")

    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
        assert not StoredObject.objects.exists()
    assert sorted(p.name for p in tiny_disk.rglob("*") if p.is_file()) == ["ballast"]


def test_the_worker_indexes_then_renders_the_series_thumbnail(celery_worker_process, tenant, tmp_path):
    write_ct_series(tmp_path / "batch", 3)

    import_quietly(tenant, tmp_path / "batch")

    assert wait_until_nothing_is_queued(tenant) == {IngestJob.State.STORED: 3}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            thumbnail = SeriesThumbnail.objects.first()
        if thumbnail is not None:
            break
        time.sleep(0.2)
    assert thumbnail is not None and thumbnail.error == ""
    assert blobs_on_disk(tenant) == 4  # three instances and the thumbnail
