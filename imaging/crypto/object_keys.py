"""Per-object data keys, the lowest level of the envelope: master → tenant → study → object.

An object is encrypted when it is received, before anyone knows which study it belongs to, so its
random data key is first wrapped by the tenant's current key. Indexing re-wraps it by its study's
key and forgets the tenant wrapping: from then on shredding the study key shreds the object, and
the blob itself was written once and is never re-encrypted. Objects derived from a study (its
thumbnails) are wrapped by the study key from the start.
"""

import os
import struct
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imaging.crypto.keys import KEY_BYTES, current_tenant_key, study_data_key, tenant_key_bytes
from imaging.crypto.models import TenantKey
from imaging.crypto.providers import KeyManagementError
from imaging.models import StoredObject, Study
from portal.models import Tenant

_CONTEXT = b"palisade/object-key/v1"
_NONCE_BYTES = 12


def new_object_key(
    tenant: Tenant, object_id: uuid.UUID, *, tenant_key: TenantKey | None = None
) -> tuple[bytes, bytes, TenantKey]:
    """A fresh data key for one object: (key, key wrapped by the tenant key, that tenant key).
    The tenant's current key unless `tenant_key` is given (a batch looks it up once)."""
    tenant_key = tenant_key or current_tenant_key(tenant)
    data_key = os.urandom(KEY_BYTES)
    aad = _aad(tenant.pk, object_id, b"T", tenant_key.version)
    return data_key, _seal(tenant_key_bytes(tenant_key), data_key, aad), tenant_key


def object_data_key(stored: StoredObject, *, study_key: bytes | None = None) -> bytes:
    """Unwrap the data key of a stored DICOM object, wrapped by its tenant or by its study.
    A reader of many objects of one study passes the study's key, unwrapped once for the request."""
    if stored.wrapping_tenant_key_id is not None:
        tenant_key = stored.wrapping_tenant_key
        aad = _aad(stored.tenant_id, stored.pk, b"T", tenant_key.version)
        return _open(tenant_key_bytes(tenant_key), bytes(stored.wrapped_key), aad, stored.pk)
    return open_for_study(
        stored.instance.series.study, bytes(stored.wrapped_key), stored.pk, study_key=study_key
    )


def wrap_for_study(stored: StoredObject, study: Study, *, study_key: bytes | None = None) -> None:
    """Re-wrap the object's data key by its study's key (creating it) and drop the tenant wrapping.
    A batch of one study passes the study's key, looked up once."""
    stored.wrapped_key = seal_for_study(study, object_data_key(stored), stored.pk, study_key=study_key)
    stored.wrapping_tenant_key = None


def seal_for_study(
    study: Study, data_key: bytes, object_id: uuid.UUID, *, study_key: bytes | None = None
) -> bytes:
    """Wrap the data key of an object of `study` (an instance, a thumbnail) by the study's key."""
    study_key = study_key or study_data_key(study)
    return _seal(study_key, data_key, _aad(study.tenant_id, object_id, b"S", study.pk))


def open_for_study(
    study: Study, wrapped: bytes, object_id: uuid.UUID, *, study_key: bytes | None = None
) -> bytes:
    """Unwrap what seal_for_study wrapped; fails once the study key is shredded. `study_key`, when
    given, is the study's key as unwrapped earlier in the same request: never keep it longer."""
    aad = _aad(study.tenant_id, object_id, b"S", study.pk)
    return _open(study_key or study_data_key(study, create=False), wrapped, aad, object_id)


def _aad(tenant_id: int, object_id: uuid.UUID, level: bytes, number: int) -> bytes:
    # Binds the wrapped key to its tenant, its object and the key that wraps it.
    return _CONTEXT + level + struct.pack(">Q", tenant_id) + object_id.bytes + struct.pack(">Q", number)


def _seal(wrapping_key: bytes, data_key: bytes, aad: bytes) -> bytes:
    # Random 96-bit nonces: a wrapping key seals far fewer keys than NIST SP 800-38D 8.3 allows (2^32).
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(wrapping_key).encrypt(nonce, data_key, aad)


def _open(wrapping_key: bytes, wrapped: bytes, aad: bytes, object_id: uuid.UUID) -> bytes:
    try:
        return AESGCM(wrapping_key).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], aad)
    except InvalidTag:
        raise KeyManagementError(f"The data key of object {object_id} does not open.") from None
