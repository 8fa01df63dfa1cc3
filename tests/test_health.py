"""/healthz answers while the process lives; /readyz checks the database, the broker, every storage region
and the key provider for real, and fails (503) while any of them is down. PostgreSQL stopped and started
under a running portal: tests/operations/test_readyz_postgres.py."""

import contextlib
import shutil
import time
from pathlib import Path

import pytest
from django.urls import reverse

from imaging.crypto.keys import current_tenant_key
from imaging.storage import region_storage
from portal.models import Tenant
from portal.tenancy import tenant_scope
from tests.operations.services import PrivateRedis


def _readyz(client) -> tuple[int, dict]:
    started = time.monotonic()
    response = client.get(reverse("readyz"))
    # Every check has a time limit: a probe never hangs the load balancer.
    assert time.monotonic() - started < 15
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_healthz_answers_without_a_database(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_each_dependency(db, client, settings):
    status, body = _readyz(client)

    assert status == 200, body
    assert body["status"] == "ready"
    regions = [f"storage:{region}" for region in settings.PALISADE_STORAGE]
    assert len(regions) == 3
    for name in ["database", "broker", "key_provider", *regions]:
        assert body["checks"][name] == "ok"
    # The worker's heartbeat is reported, never required.
    assert body["checks"]["worker"] == "no recent heartbeat"


def test_readyz_is_unavailable_when_the_broker_is_down(db, client, settings):
    # A port nothing listens on: the broker is really unreachable, nothing is mocked.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    status, body = _readyz(client)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"] != "ok"
    assert body["checks"]["database"] == "ok"


def test_readyz_follows_a_redis_broker_that_stops_and_comes_back(db, client, settings):
    redis = PrivateRedis()
    redis.start()
    try:
        settings.CELERY_BROKER_URL = redis.url
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
        assert _readyz(client)[0] == 200

        redis.stop()
        status, body = _readyz(client)
        assert status == 503 and body["checks"]["broker"] != "ok"

        redis.start()
        status, body = _readyz(client)
        assert status == 200, body
    finally:
        redis.stop()


@pytest.fixture
def eu1_folder(settings, tmp_path):
    """Region eu-1 in a folder of the test's own."""
    folder = tmp_path / "eu-1"
    folder.mkdir()
    settings.PALISADE_STORAGE = {
        **settings.PALISADE_STORAGE,
        "eu-1": {"jurisdiction": "EU", "location": str(folder)},
    }
    region_storage.cache_clear()
    yield folder
    region_storage.cache_clear()


def test_readyz_fails_while_a_storage_region_is_unavailable_and_recovers(db, client, eu1_folder):
    assert _readyz(client)[0] == 200
    # No probe object is left behind.
    assert not any(path.is_file() for path in eu1_folder.rglob("*"))

    # The volume is gone and something else sits at its path (root ignores permissions, so a chmod
    # would prove nothing): nothing can be written there.
    shutil.rmtree(eu1_folder)
    eu1_folder.write_bytes(b"not a folder")
    status, body = _readyz(client)
    assert status == 503
    assert body["checks"]["storage:eu-1"] != "ok"
    assert body["checks"]["storage:eu-2"] == "ok"
    assert str(eu1_folder) not in str(body)  # no path in an answer anyone may read

    eu1_folder.unlink()
    eu1_folder.mkdir()
    assert _readyz(client)[0] == 200


def test_readyz_fails_on_a_full_storage_region(db, client, tiny_disk):
    (tiny_disk / "filler").write_bytes(b"\0" * (256 * 1024 - 4096))
    with contextlib.suppress(OSError):
        (tiny_disk / "more").write_bytes(b"\0" * 8192)

    status, body = _readyz(client)

    assert status == 503
    assert body["checks"]["storage:eu-1"] != "ok"
    for path in tiny_disk.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert _readyz(client)[0] == 200


@pytest.fixture
def master_key_file(settings, tmp_path) -> Path:
    settings.PALISADE_KEY_PROVIDER = "file"
    settings.PALISADE_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    return settings.PALISADE_MASTER_KEY_FILE


def test_readyz_fails_when_the_master_key_file_goes_missing(transactional_db, client, master_key_file):
    tenant = Tenant.objects.create(slug="keys", name="Keys Clinic")
    with tenant_scope(tenant):
        current_tenant_key(tenant)  # a tenant key is wrapped (and committed): the master key now matters
    assert master_key_file.exists()
    assert _readyz(client)[0] == 200

    saved = master_key_file.read_bytes()
    master_key_file.unlink()
    status, body = _readyz(client)
    assert status == 503
    assert body["checks"]["key_provider"] == "master key file missing"
    assert not master_key_file.exists()  # the probe never makes a new master key

    master_key_file.write_bytes(saved)
    master_key_file.chmod(0o600)
    assert _readyz(client)[0] == 200


def test_readyz_fails_when_the_master_key_file_is_unreadable_or_not_a_key(
    transactional_db, client, master_key_file
):
    tenant = Tenant.objects.create(slug="keys", name="Keys Clinic")
    with tenant_scope(tenant):
        current_tenant_key(tenant)
    saved = master_key_file.read_bytes()

    master_key_file.chmod(0o644)  # readable by everyone: refused as the provider refuses it
    status, body = _readyz(client)
    assert status == 503 and body["checks"]["key_provider"] == "master key file is open to other users"

    master_key_file.chmod(0o600)
    master_key_file.write_bytes(saved[:10])
    status, body = _readyz(client)
    assert status == 503 and body["checks"]["key_provider"] == "master key file is not a whole key"

    master_key_file.unlink()
    master_key_file.mkdir()
    status, body = _readyz(client)
    assert status == 503 and body["checks"]["key_provider"] == "master key file is not a file"

    master_key_file.rmdir()
    master_key_file.write_bytes(b"\1" * 32)
    master_key_file.chmod(0o600)
    status, body = _readyz(client)
    assert status == 503 and body["checks"]["key_provider"] == "master key file differs from the key in use"

    master_key_file.write_bytes(saved)
    assert _readyz(client)[0] == 200


S3_CREDENTIALS = {"access_key": "palisade-test", "secret_key": "palisade-test-secret"}


class S3Server:
    """moto's S3 server on a loopback port of its own, with one bucket; stopped and started again."""

    def __init__(self) -> None:
        from tests.operations.services import free_port

        self.port = free_port()
        self.bucket = "palisade-readiness"
        self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import boto3
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="eu-central-1",
            aws_access_key_id=S3_CREDENTIALS["access_key"],
            aws_secret_access_key=S3_CREDENTIALS["secret_key"],
        )
        # moto keeps its buckets in this process's memory across a server restart, as S3 keeps them.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
            )

    def stop(self) -> None:
        self.server.stop()


def test_readyz_follows_an_s3_region_that_goes_away_and_comes_back(db, client, settings):
    s3 = S3Server()
    s3.start()
    settings.PALISADE_STORAGE = {
        **settings.PALISADE_STORAGE,
        "eu-s3": {
            "jurisdiction": "EU",
            "backend": "s3",
            "bucket": s3.bucket,
            "endpoint_url": s3.endpoint,
            "region_name": "eu-central-1",
            **S3_CREDENTIALS,
        },
    }
    region_storage.cache_clear()
    try:
        status, body = _readyz(client)
        assert status == 200, body
        assert body["checks"]["storage:eu-s3"] == "ok"

        s3.stop()
        status, body = _readyz(client)
        assert status == 503
        assert body["checks"]["storage:eu-s3"] != "ok"
        assert s3.endpoint not in str(body)

        s3.start()
        status, body = _readyz(client)
        assert status == 200, body
    finally:
        s3.stop()
        region_storage.cache_clear()


def test_a_dependency_that_hangs_is_reported_as_a_timeout_within_the_limit(db, client, settings):
    # A listening socket that never answers: connections are accepted by the kernel, nothing replies.
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
        settings.PALISADE_READINESS_TIMEOUT = 1.0

        started = time.monotonic()
        status, body = _readyz(client)
        took = time.monotonic() - started

        assert status == 503
        assert body["checks"]["broker"] == "timeout"
        assert body["checks"]["database"] == "ok"
        assert took < 5
    finally:
        silent.close()
