import io
import os
import threading

import pytest
from django.db import connection

from imaging.crypto import keys
from imaging.crypto.keys import (
    MissingStudyKeyError,
    current_tenant_key,
    rotate_tenant_key,
    shred_study_key,
    study_data_key,
)
from imaging.crypto.models import StudyKey, TenantKey
from imaging.crypto.providers import KeyManagementError, get_master_key_provider
from imaging.crypto.segments import BlobIntegrityError, decrypt_stream, encrypt_stream
from imaging.models import Study
from portal.tenancy import tenant_scope
from tests.factories import StudyFactory


def store_blob(study, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` as an object of `study`, the way storage will."""
    sink = io.BytesIO()
    with tenant_scope(study.tenant):
        key = study_data_key(study)
    encrypt_stream(key, io.BytesIO(plaintext), sink, tenant_id=study.tenant_id, object_id=f"study-{study.pk}")
    return sink.getvalue()


def read_blob(study, blob: bytes) -> bytes:
    with tenant_scope(study.tenant):
        key = study_data_key(study, create=False)
    return b"".join(
        decrypt_stream(key, io.BytesIO(blob), tenant_id=study.tenant_id, object_id=f"study-{study.pk}")
    )


def forget_unwrapped_keys():
    """As a freshly started process: nothing unwrapped in memory."""
    keys._unwrap_tenant_key.cache_clear()


def test_the_first_tenant_key_is_created_once_and_wrapped_by_the_master_key(tenant):
    with tenant_scope(tenant):
        first = current_tenant_key(tenant)
        again = current_tenant_key(tenant)

        assert first == again
        assert first.version == 1
        assert TenantKey.objects.count() == 1
    assert first.master_key_id == get_master_key_provider().key_id
    assert len(get_master_key_provider().unwrap(bytes(first.wrapped_key))) == 32


def test_a_study_has_one_stable_data_key_stored_only_wrapped(tenant):
    study, other = StudyFactory(tenant=tenant), StudyFactory(tenant=tenant)

    with tenant_scope(tenant):
        key = study_data_key(study)
        forget_unwrapped_keys()
        assert study_data_key(study) == key
        assert study_data_key(other) != key
        row = StudyKey.objects.select_related("tenant_key").get(study=study)
    assert len(key) == 32
    assert key not in bytes(row.wrapped_key)
    assert row.tenant_key.version == 1


def test_the_envelope_round_trips_a_blob(tenant):
    study = StudyFactory(tenant=tenant)
    plaintext = os.urandom(100_000)
    blob = store_blob(study, plaintext)
    forget_unwrapped_keys()

    assert read_blob(study, blob) == plaintext


def test_reading_a_study_without_a_key_does_not_create_one(tenant):
    study = StudyFactory(tenant=tenant)

    with tenant_scope(tenant):
        with pytest.raises(MissingStudyKeyError, match=f"Study #{study.pk} has no data key"):
            study_data_key(study, create=False)
        assert not StudyKey.objects.exists()


def test_a_wrapped_study_key_copied_to_another_study_does_not_open(tenant):
    study, other = StudyFactory(tenant=tenant), StudyFactory(tenant=tenant)
    with tenant_scope(tenant):
        study_data_key(study)
        study_data_key(other)
        stolen = StudyKey.objects.get(study=study).wrapped_key
        StudyKey.objects.filter(study=other).update(wrapped_key=stolen)

        with pytest.raises(KeyManagementError, match=f"study #{other.pk} does not open"):
            study_data_key(other)


def test_rotation_adds_a_version_and_rewraps_without_touching_blobs(tenant):
    studies = [StudyFactory(tenant=tenant) for _ in range(3)]
    plaintexts = [os.urandom(5000) for _ in studies]
    blobs = [store_blob(study, plaintext) for study, plaintext in zip(studies, plaintexts, strict=True)]
    with tenant_scope(tenant):
        before = {row.study_id: bytes(row.wrapped_key) for row in StudyKey.objects.all()}

        new_key, rewrapped = rotate_tenant_key(tenant)

        after = {row.study_id: bytes(row.wrapped_key) for row in StudyKey.objects.all()}
        assert (new_key.version, rewrapped) == (2, 3)
        assert current_tenant_key(tenant) == new_key
        assert set(StudyKey.objects.values_list("tenant_key__version", flat=True)) == {2}
        assert all(after[study_id] != wrapped for study_id, wrapped in before.items())
    forget_unwrapped_keys()

    for study, plaintext, blob in zip(studies, plaintexts, blobs, strict=True):
        assert read_blob(study, blob) == plaintext


def test_rotating_twice_keeps_every_version_and_old_blobs_readable(tenant):
    study = StudyFactory(tenant=tenant)
    blob = store_blob(study, b"before rotations")
    with tenant_scope(tenant):
        rotate_tenant_key(tenant)
        third, rewrapped = rotate_tenant_key(tenant)

        assert (third.version, rewrapped) == (3, 1)
        assert list(TenantKey.objects.values_list("version", flat=True)) == [3, 2, 1]
    assert read_blob(study, blob) == b"before rotations"


def test_rotation_leaves_other_tenants_alone(tenant, other_tenant):
    StudyFactory(tenant=tenant)
    theirs = StudyFactory(tenant=other_tenant)
    blob = store_blob(theirs, b"bravo's image")
    with tenant_scope(other_tenant):
        wrapped_before = bytes(StudyKey.objects.get().wrapped_key)

    with tenant_scope(tenant):
        _, rewrapped = rotate_tenant_key(tenant)

    assert rewrapped == 0
    with tenant_scope(other_tenant):
        assert bytes(StudyKey.objects.get().wrapped_key) == wrapped_before
        assert current_tenant_key(other_tenant).version == 1
    assert read_blob(theirs, blob) == b"bravo's image"


def test_rotation_is_all_or_nothing(tenant, monkeypatch):
    study = StudyFactory(tenant=tenant)
    store_blob(study, b"x")

    # The HSM becomes unreachable half-way through a rotation: a fault no test can cause for real.
    def broken_unwrap(row):
        raise KeyManagementError("The master key is unavailable.")

    monkeypatch.setattr(keys, "_unwrap_study_key", broken_unwrap)
    with tenant_scope(tenant):
        with pytest.raises(KeyManagementError):
            rotate_tenant_key(tenant)
        assert list(TenantKey.objects.values_list("version", flat=True)) == [1]


def test_shredding_a_study_key_makes_its_blob_unreadable_while_another_tenant_still_decrypts(
    tenant, other_tenant
):
    shredded, kept = StudyFactory(tenant=tenant), StudyFactory(tenant=other_tenant)
    shredded_blob = store_blob(shredded, b"alpha's image")
    kept_blob = store_blob(kept, b"bravo's image")

    with tenant_scope(tenant):
        assert shred_study_key(shredded) is True
        assert shred_study_key(shredded) is False
        assert not StudyKey.objects.exists()

    with pytest.raises(MissingStudyKeyError):
        read_blob(shredded, shredded_blob)
    # Even a writer that makes the study a new key cannot open the old blobs with it.
    with tenant_scope(tenant):
        new_key = study_data_key(shredded)
    with pytest.raises(BlobIntegrityError):
        b"".join(
            decrypt_stream(
                new_key, io.BytesIO(shredded_blob), tenant_id=tenant.pk, object_id=f"study-{shredded.pk}"
            )
        )
    assert read_blob(kept, kept_blob) == b"bravo's image"


def test_deleting_a_study_deletes_its_key(tenant):
    study = StudyFactory(tenant=tenant)
    store_blob(study, b"x")

    with tenant_scope(tenant):
        Study.objects.filter(pk=study.pk).delete()
        assert not StudyKey.objects.exists()


def test_a_tenant_key_wrapped_by_another_master_key_is_named_not_guessed(tenant, settings, tmp_path):
    study = StudyFactory(tenant=tenant)
    store_blob(study, b"x")
    settings.PALISADE_MASTER_KEY_FILE = tmp_path / "replaced.key"

    with tenant_scope(tenant), pytest.raises(KeyManagementError, match="was wrapped by master key file:"):
        study_data_key(study)


@pytest.mark.django_db(transaction=True)
def test_two_workers_keying_the_same_study_at_once_end_with_one_key(tenant, monkeypatch):
    study = StudyFactory(tenant=tenant)
    with tenant_scope(tenant):
        current_tenant_key(tenant)
    both_missed = threading.Barrier(2, timeout=20)
    real_current_tenant_key = keys._current_tenant_key

    def after_both_missed(tenant_id):
        # Both workers have looked for the key and found none: now both create one.
        both_missed.wait()
        return real_current_tenant_key(tenant_id)

    monkeypatch.setattr(keys, "_current_tenant_key", after_both_missed)
    results, errors = [], []

    def worker():
        try:
            with tenant_scope(tenant):
                results.append(study_data_key(study))
        except Exception as exc:  # Reported by the assertion below, in the test's thread.
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(results) == 2
    assert results[0] == results[1]
    with tenant_scope(tenant):
        assert StudyKey.objects.count() == 1
        assert study_data_key(study) == results[0]


def test_the_envelope_works_with_the_hsm_holding_the_master_key(tenant, other_tenant, hsm_settings):
    study, theirs = StudyFactory(tenant=tenant), StudyFactory(tenant=other_tenant)
    blob = store_blob(study, b"alpha's image")
    their_blob = store_blob(theirs, b"bravo's image")
    with tenant_scope(tenant):
        tenant_key = current_tenant_key(tenant)
    assert tenant_key.master_key_id.startswith(
        f"pkcs11:palisade-test/{hsm_settings.PALISADE_PKCS11_KEY_LABEL}/"
    )
    forget_unwrapped_keys()

    assert read_blob(study, blob) == b"alpha's image"
    with tenant_scope(tenant):
        _, rewrapped = rotate_tenant_key(tenant)
    forget_unwrapped_keys()
    assert rewrapped == 1
    assert read_blob(study, blob) == b"alpha's image"
    with tenant_scope(tenant):
        shred_study_key(study)
    with pytest.raises(MissingStudyKeyError):
        read_blob(study, blob)
    assert read_blob(theirs, their_blob) == b"bravo's image"
