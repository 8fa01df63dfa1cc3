"""A provider's client secret, sealed in the database.

The secret lets whoever holds it redeem authorization codes as Palisade, so it is not kept in clear:
envelope encryption as for studies (DESIGN.md, "Keys and storage"). A fresh data key per secret,
wrapped by the master key provider (a key file, or the HSM), encrypts the secret with AES-256-GCM; the
associated data names the clinic, so a sealed secret copied to another clinic's row does not open.
"""

import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accounts.sso.models import OidcProvider
from imaging.crypto.providers import get_master_key_provider

_VERSION = 1
_NONCE_BYTES = 12


def _aad(provider: OidcProvider) -> bytes:
    return f"palisade.sso.client-secret\x00tenant={provider.tenant_id}".encode()


def seal_client_secret(provider: OidcProvider, secret: str) -> None:
    """Store `secret` sealed on `provider` (not saved); an empty secret clears it (a public client)."""
    if not secret:
        provider.client_secret_sealed = b""
        return
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = get_master_key_provider().wrap(data_key)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, secret.encode(), _aad(provider))
    provider.client_secret_sealed = struct.pack(">BH", _VERSION, len(wrapped)) + wrapped + nonce + ciphertext


def open_client_secret(provider: OidcProvider) -> str:
    """The provider's client secret, or "" when it has none."""
    sealed = bytes(provider.client_secret_sealed or b"")
    if not sealed:
        return ""
    version, wrapped_length = struct.unpack_from(">BH", sealed)
    if version != _VERSION:
        raise ValueError(f"Unknown sealed client secret version {version}.")
    offset = struct.calcsize(">BH")
    wrapped = sealed[offset : offset + wrapped_length]
    nonce = sealed[offset + wrapped_length : offset + wrapped_length + _NONCE_BYTES]
    ciphertext = sealed[offset + wrapped_length + _NONCE_BYTES :]
    data_key = get_master_key_provider().unwrap(wrapped)
    return AESGCM(data_key).decrypt(nonce, ciphertext, _aad(provider)).decode()
