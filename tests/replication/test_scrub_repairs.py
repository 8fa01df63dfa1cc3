"""Fault tests: a lost file, a flipped byte, a lost home region. Scrub finds each, repairs it from a good
copy, and reads return the right bytes meanwhile."""

import hashlib
import io
import shutil

import pydicom
import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from imaging.ingest.parse import zeroed_preamble_reader
from imaging.models import StoredObject
from imaging.objects import open_plaintext, plaintext_chunks
from imaging.replication.models import ObjectCopy
from imaging.storage import object_sha256, region_storage
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ALL_SYNTAXES, instance_path, parts
from tests.ingest.samples import SAMPLES
from tests.replication.conftest import folder, ingest_samples, replicate_pending, set_replicas

pytestmark = pytest.mark.usefixtures("regions")

SAMPLE = "CT_small.dcm"


def scrub(*args: str) -> str:
    out = io.StringIO()
    call_command("scrub", *args, stdout=out)
    return out.getvalue()


def original(name: str = SAMPLE) -> bytes:
    with zeroed_preamble_reader(SAMPLES / name) as source:
        return source.read()


def read_plaintext(tenant, stored: StoredObject) -> bytes:
    with tenant_scope(tenant):
        stored = StoredObject.objects.get(pk=stored.pk)
        return b"".join(plaintext_chunks(stored))


def home_path(stored: StoredObject):
    return folder(stored.region) / stored.storage_name


@pytest.fixture
def replicated(tenant):
    """One sample, stored in eu-1 and copied to eu-2 (a folder) and eu-s3 (the bucket)."""
    set_replicas(tenant, "eu-2", "eu-s3")
    (stored,) = ingest_samples(tenant, SAMPLE)
    replicate_pending(tenant)
    return stored


@pytest.fixture
def reader(tenant, member_factory, client):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    return client


def test_a_stored_object_is_copied_verified_to_every_replica_region(tenant, replicated):
    with tenant_scope(tenant):
        copies = {copy.region: copy for copy in ObjectCopy.objects.filter(stored_object=replicated)}
    assert set(copies) == {"eu-2", "eu-s3"}
    for region, copy in copies.items():
        assert copy.state == ObjectCopy.State.OK
        assert copy.ciphertext_sha256 == replicated.ciphertext_sha256
        assert object_sha256(region, replicated.storage_name) == replicated.ciphertext_sha256


def test_a_file_deleted_in_the_home_region_is_read_from_a_replica_and_restored_by_scrub(
    tenant, replicated, reader
):
    home_path(replicated).unlink()
    ds = pydicom.dcmread(SAMPLES / SAMPLE, stop_before_pixels=True)

    assert read_plaintext(tenant, replicated) == original()
    ((_, content),) = parts(reader.get(instance_path(tenant, ds), HTTP_ACCEPT=ALL_SYNTAXES))
    assert content == original()

    output = scrub("--tenant", tenant.slug, "--repair")

    assert f"object {replicated.pk} in eu-1: missing, repaired" in output
    assert hashlib.sha256(home_path(replicated).read_bytes()).hexdigest() == replicated.ciphertext_sha256
    assert read_plaintext(tenant, replicated) == original()


@pytest.mark.parametrize("region", ["eu-1", "eu-2", "eu-s3"])
def test_a_flipped_byte_in_one_copy_is_detected_then_repaired(tenant, replicated, region):
    storage = region_storage(region)
    with storage.open(replicated.storage_name, "rb") as blob:
        damaged = bytearray(blob.read())
    damaged[len(damaged) // 2] ^= 0x01
    storage.delete(replicated.storage_name)
    storage.save(replicated.storage_name, io.BytesIO(bytes(damaged)))

    with pytest.raises(
        CommandError, match="1 copies are missing, corrupt or unreadable and were not repaired"
    ):
        scrub("--tenant", tenant.slug)
    output = scrub("--tenant", tenant.slug, "--repair")

    assert f"object {replicated.pk} in {region}: corrupt, repaired" in output
    assert object_sha256(region, replicated.storage_name) == replicated.ciphertext_sha256
    assert "0 not repaired" in scrub("--tenant", tenant.slug)
    if region != "eu-1":
        with tenant_scope(tenant):
            assert (
                ObjectCopy.objects.get(stored_object=replicated, region=region).state == ObjectCopy.State.OK
            )


@pytest.mark.parametrize("where", ["first segment", "second segment", "last segment"])
def test_a_flipped_byte_in_the_home_copy_is_read_around_from_where_it_fails(tenant, where):
    # Three 1 MiB segments: a stream fails part way, after it has sent what came before.
    large = "MG_for_presentation_GH133.dcm"
    set_replicas(tenant, "eu-s3")
    (stored,) = ingest_samples(tenant, large)
    replicate_pending(tenant)
    blob = bytearray(home_path(stored).read_bytes())
    offset = {"first segment": 100, "second segment": 1024 * 1024 + 100, "last segment": len(blob) - 40}[
        where
    ]
    blob[offset] ^= 0x80
    home_path(stored).write_bytes(bytes(blob))

    assert read_plaintext(tenant, stored) == original(large)
    with tenant_scope(tenant), open_plaintext(StoredObject.objects.get(pk=stored.pk)) as plaintext:
        plaintext.seek(2 * 1024 * 1024 - 10)
        tail = plaintext.read()
        plaintext.seek(0)
        assert plaintext.read() == original(large)
    assert tail == original(large)[2 * 1024 * 1024 - 10 :]


def test_with_the_whole_home_region_lost_the_study_still_reads_and_scrub_restores_it(tenant, reader):
    set_replicas(tenant, "eu-s3")
    names = ["CT_small.dcm", "MR_small.dcm"]
    stored = ingest_samples(tenant, *names)
    replicate_pending(tenant)

    shutil.rmtree(folder("eu-1"))

    for name in names:
        ds = pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)
        response = reader.get(instance_path(tenant, ds), HTTP_ACCEPT=ALL_SYNTAXES)
        assert response.status_code == 200
        ((_, content),) = parts(response)
        assert content == original(name)

    output = scrub("--tenant", tenant.slug, "--repair")

    assert "2 repaired, 0 not repaired" in output
    for each in stored:
        assert hashlib.sha256(home_path(each).read_bytes()).hexdigest() == each.ciphertext_sha256


def test_a_copy_with_no_good_copy_left_is_reported_not_repaired(tenant, replicated):
    for region in ("eu-1", "eu-2", "eu-s3"):
        region_storage(region).delete(replicated.storage_name)

    with pytest.raises(CommandError, match="3 copies"):
        scrub("--tenant", tenant.slug, "--repair")
