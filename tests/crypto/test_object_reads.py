"""Reading stored objects back (imaging.objects): a request's keys and the sized reads keep every check."""

import io
from pathlib import Path

import pytest
from django.conf import settings

from imaging.crypto.keys import shred_study_key
from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import SEGMENT_SIZE, BlobIntegrityError
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


def test_a_one_segment_object_is_read_from_memory_once_opening_authenticated_it(tenant, stored):
    with tenant_scope(tenant):
        data_key = RequestKeys().data_key(stored)
    expected = b"".join(plaintext_chunks(stored, data_key=data_key))
    assert len(expected) <= SEGMENT_SIZE

    with open_plaintext(stored, data_key=data_key) as plaintext:
        assert isinstance(plaintext, io.BytesIO)
        plaintext.seek(128)
        assert plaintext.read(4) == b"DICM"
        plaintext.seek(0)
        assert plaintext.read() == expected


def test_a_flipped_byte_in_a_one_segment_object_fails_on_opening(tenant, stored):
    with tenant_scope(tenant):
        data_key = RequestKeys().data_key(stored)
    path = _path(stored)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))

    with pytest.raises(BlobIntegrityError), open_plaintext(stored, data_key=data_key):
        pass


def test_an_object_of_several_segments_is_still_decrypted_as_it_is_read(tenant):
    job = ingest(tenant, SAMPLES / "MG_for_presentation_GH133.dcm")
    with tenant_scope(tenant):
        stored = StoredObject.objects.select_related("instance__series__study").get(pk=job.stored_object_id)
        data_key = RequestKeys().data_key(stored)
    assert stored.plaintext_size > 2 * SEGMENT_SIZE

    with open_plaintext(stored, data_key=data_key) as plaintext:
        assert not isinstance(plaintext, io.BytesIO)
        plaintext.seek(SEGMENT_SIZE + 10)
        middle = plaintext.read(100)
    assert (
        middle
        == (SAMPLES / "MG_for_presentation_GH133.dcm").read_bytes()[SEGMENT_SIZE + 10 : SEGMENT_SIZE + 110]
    )
