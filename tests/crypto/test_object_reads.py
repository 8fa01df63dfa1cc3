"""Reading stored objects back (imaging.objects): a request's keys and the sized reads keep every check."""

from pathlib import Path

import pytest
from django.conf import settings

from imaging.crypto.keys import shred_study_key
from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import BlobIntegrityError
from imaging.models import StoredObject
from imaging.objects import RequestKeys, open_plaintext, plaintext_chunks
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(tenant) -> StoredObject:
    job = ingest(tenant, SAMPLES / "CT_small.dcm")
    with tenant_scope(tenant):
        return StoredObject.objects.select_related("instance__series__study").get(pk=job.stored_object_id)


def _path(stored: StoredObject) -> Path:
    return Path(settings.PALISADE_STORAGE[stored.region]["location"]) / stored.storage_name


def test_a_request_key_reads_the_same_bytes_as_the_objects_own(tenant, stored):
    with tenant_scope(tenant):
        expected = b"".join(plaintext_chunks(stored))
        data_key = RequestKeys().data_key(stored)

    # Outside of any scope: the key given, nothing reads the database.
    assert b"".join(plaintext_chunks(stored, data_key=data_key)) == expected
    with open_plaintext(stored, data_key=data_key) as plaintext:
        assert plaintext.read() == expected


@pytest.mark.parametrize("tamper", ["extend", "truncate"])
def test_an_extended_or_truncated_blob_still_fails(tenant, stored, tamper):
    with tenant_scope(tenant):
        data_key = RequestKeys().data_key(stored)
    path = _path(stored)
    blob = path.read_bytes()
    path.write_bytes(blob + b"\0" * 32 if tamper == "extend" else blob[:-1])

    with pytest.raises(BlobIntegrityError):
        b"".join(plaintext_chunks(stored, data_key=data_key))


def test_request_keys_are_read_afresh_so_a_shredded_study_fails_at_once(tenant, stored):
    with tenant_scope(tenant):
        RequestKeys().data_key(stored)
        shred_study_key(stored.instance.series.study)

        with pytest.raises(KeyManagementError):
            RequestKeys().data_key(stored)
