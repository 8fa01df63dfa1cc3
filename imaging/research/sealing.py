"""Secrets of research projects, sealed under their clinic's key (DESIGN.md, "Keys and storage").

A project's pseudonym key, a DICOMweb destination's bearer token and an export archive's data key are
each encrypted with AES-256-GCM under the clinic's current tenant key. The sealed form starts with the
tenant key version that sealed it: a rotation adds a version and keeps the older ones
(imaging.crypto.keys), so whatever was sealed before still opens. The associated data names the clinic,
the row and the purpose, so a sealed value copied to another clinic, row or field does not open.
"""

import os
import struct
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from imaging.crypto.keys import current_tenant_key, tenant_key_bytes
from imaging.crypto.models import TenantKey
from imaging.crypto.providers import KeyManagementError
from portal.models import Tenant

_CONTEXT = b"palisade/research-secret/v1"
_VERSION = struct.Struct(">I")
_NONCE_BYTES = 12


def seal(tenant: Tenant, secret: bytes, *, row_id: uuid.UUID, purpose: str) -> bytes:
    """`secret` sealed under the clinic's current key. Call inside the clinic's scope."""
    tenant_key = current_tenant_key(tenant)
    nonce = os.urandom(_NONCE_BYTES)
    aad = _aad(tenant.pk, row_id, purpose, tenant_key.version)
    ciphertext = AESGCM(tenant_key_bytes(tenant_key)).encrypt(nonce, secret, aad)
    return _VERSION.pack(tenant_key.version) + nonce + ciphertext


def unseal(tenant_id: int, sealed: bytes, *, row_id: uuid.UUID, purpose: str) -> bytes:
    """What `seal` sealed. Raises KeyManagementError when it does not open. Call inside the clinic's scope."""
    (version,) = _VERSION.unpack_from(sealed)
    tenant_key = TenantKey.objects.filter(tenant_id=tenant_id, version=version).first()
    if tenant_key is None:
        raise KeyManagementError(f"The {purpose} of research row {row_id} names a missing key version.")
    nonce = sealed[_VERSION.size : _VERSION.size + _NONCE_BYTES]
    try:
        return AESGCM(tenant_key_bytes(tenant_key)).decrypt(
            nonce, sealed[_VERSION.size + _NONCE_BYTES :], _aad(tenant_id, row_id, purpose, version)
        )
    except InvalidTag:
        raise KeyManagementError(f"The {purpose} of research row {row_id} does not open.") from None


def _aad(tenant_id: int, row_id: uuid.UUID, purpose: str, version: int) -> bytes:
    return _CONTEXT + struct.pack(">QI", tenant_id, version) + row_id.bytes + purpose.encode()
