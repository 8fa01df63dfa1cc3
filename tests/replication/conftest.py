"""Regions for the replication tests: two EU folders, an EU S3 bucket served by moto on loopback, and a
US folder. Each test gets fresh folders and a fresh bucket."""

import logging
import socket
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from imaging.replication.models import ObjectCopy
from imaging.replication.tasks import replicate_object_copies
from imaging.storage import region_storage
from portal.models import Tenant
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest

S3_CREDENTIALS = {"access_key": "palisade-test", "secret_key": "palisade-test-secret"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API over HTTP on 127.0.0.1 (moto's server), for the whole session."""
    # One log line per request otherwise: the tests' output would be moto's.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    name = f"palisade-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="eu-central-1",
        aws_access_key_id=S3_CREDENTIALS["access_key"],
        aws_secret_access_key=S3_CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    return client, name


@pytest.fixture
def regions(settings, tmp_path, s3_endpoint, s3_bucket):
    """eu-1 and eu-2 (folders), eu-s3 (the bucket), us-1 (a folder): PALISADE_STORAGE as an operator
    writes it."""
    _, bucket = s3_bucket
    settings.PALISADE_STORAGE = {
        "eu-1": {"jurisdiction": "EU", "location": str(tmp_path / "eu-1")},
        "eu-2": {"jurisdiction": "EU", "location": str(tmp_path / "eu-2")},
        "eu-s3": {
            "jurisdiction": "EU",
            "backend": "s3",
            "bucket": bucket,
            "endpoint_url": s3_endpoint,
            "region_name": "eu-central-1",
            **S3_CREDENTIALS,
        },
        "us-1": {"jurisdiction": "US", "location": str(tmp_path / "us-1")},
    }
    settings.PALISADE_REGION = "eu-1"
    region_storage.cache_clear()
    yield settings.PALISADE_STORAGE
    region_storage.cache_clear()


def folder(region: str) -> Path:
    from django.conf import settings

    return Path(settings.PALISADE_STORAGE[region]["location"])


def set_replicas(tenant: Tenant, *replica_regions: str) -> Tenant:
    tenant.replica_regions = list(replica_regions)
    tenant.full_clean()
    tenant.save()
    return tenant


def ingest_samples(tenant: Tenant, *names: str):
    """Receive and index samples as the worker does; the StoredObjects, in the order given."""
    stored = []
    for name in names:
        job = ingest(tenant, SAMPLES / name)
        assert job.state == "stored", job.error_reason
        stored.append(job.stored_object)
    return stored


def replicate_pending(tenant: Tenant) -> None:
    """Run the replication task's body, in this process, on the tenant's pending copies (the task as a
    worker runs it is in test_replication_worker.py)."""
    with tenant_scope(tenant):
        ids = list(ObjectCopy.objects.filter(state=ObjectCopy.State.PENDING).values_list("pk", flat=True))
    replicate_object_copies(ids, tenant.pk)
