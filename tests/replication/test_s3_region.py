"""An S3 region (moto's server on loopback, through django-storages and boto3) holds exactly the
ciphertext: the same bytes as the home copy, no DICOM and no patient name."""

import hashlib

import pydicom
import pytest

from imaging.replication.services import all_copies, delete_all_copies
from imaging.storage import durable_writer, object_exists
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.replication.conftest import folder, ingest_samples, replicate_pending, set_replicas

pytestmark = pytest.mark.usefixtures("regions")

SAMPLE = "CT_phi_ctbrain1.dcm"


def bucket_objects(s3_bucket) -> dict[str, bytes]:
    client, bucket = s3_bucket
    listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}


def test_the_bucket_holds_the_ciphertext_as_stored_and_no_plaintext(tenant, s3_bucket):
    set_replicas(tenant, "eu-s3")
    (stored,) = ingest_samples(tenant, SAMPLE)
    replicate_pending(tenant)

    objects = bucket_objects(s3_bucket)

    assert list(objects) == [stored.storage_name]
    (blob,) = objects.values()
    assert blob == (folder("eu-1") / stored.storage_name).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == stored.ciphertext_sha256
    dataset = pydicom.dcmread(SAMPLES / SAMPLE, stop_before_pixels=True)
    assert b"DICM" not in blob
    for value in (str(dataset.PatientName), str(dataset.PatientID)):
        assert value.encode() not in blob
        for part in value.split("^"):
            if len(part) >= 4:
                assert part.encode() not in blob


def test_an_s3_object_is_never_overwritten_in_place(tenant, s3_bucket):
    with durable_writer("eu-s3", "1/first") as sink:
        sink.write(b"first")

    with pytest.raises(FileExistsError), durable_writer("eu-s3", "1/first") as sink:
        sink.write(b"second")

    assert bucket_objects(s3_bucket) == {"1/first": b"first"}


def test_all_copies_lists_home_first_and_delete_all_copies_removes_each(tenant, s3_bucket):
    set_replicas(tenant, "eu-2", "eu-s3")
    (stored,) = ingest_samples(tenant, "CT_small.dcm")
    replicate_pending(tenant)

    copies = all_copies(stored)
    deleted = delete_all_copies(stored)

    assert copies == deleted == [(r, stored.storage_name) for r in ("eu-1", "eu-2", "eu-s3")]
    assert not any(object_exists(region, name) for region, name in copies)
    assert bucket_objects(s3_bucket) == {}
    with tenant_scope(tenant):
        assert not stored.copies.exists()
