"""Tenant keys and study data keys. Call these inside the tenant's `tenant_scope`.

The master key wraps each tenant key version; the current tenant key version wraps one data key per
study. Study keys are never cached unwrapped, so shredding one takes effect at once in every
process. Unwrapped tenant keys are cached per process, keyed by their wrapped form, because
unwrapping them may be a round trip to an HSM.
"""

import functools
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import transaction

from imaging.crypto.models import StudyKey, TenantKey
from imaging.crypto.providers import KeyManagementError, get_master_key_provider
from imaging.models import Study
from portal.models import Tenant

KEY_BYTES = 32
_NONCE_BYTES = 12
_STUDY_KEY_CONTEXT = b"palisade/study-key/v1"
_REWRAP_BATCH = 500


class MissingStudyKeyError(KeyManagementError):
    """The study has no data key: nothing was stored for it, or it was crypto-shredded."""


def current_tenant_key(tenant: Tenant) -> TenantKey:
    """The tenant's highest key version, creating version 1 on first use."""
    return _current_tenant_key(tenant.pk)


def study_data_key(study: Study, *, create: bool = True) -> bytes:
    """The study's 256-bit data key, created on first use unless `create` is false.

    Read paths pass create=False: a shredded study must fail to open, not get a fresh key.
    Creation is safe under concurrency: two workers ingesting the same study race on the one-to-one
    constraint, and get_or_create's savepoint lets the loser read the winner's key.
    """
    existing = StudyKey.objects.select_related("tenant_key").filter(study=study).first()
    if existing is not None:
        return _unwrap_study_key(existing)
    if not create:
        raise MissingStudyKeyError(f"Study #{study.pk} has no data key (never written, or shredded).")
    tenant_key = _current_tenant_key(study.tenant_id)
    data_key = os.urandom(KEY_BYTES)
    row, created = StudyKey.objects.select_related("tenant_key").get_or_create(
        study=study,
        defaults={
            "tenant_id": study.tenant_id,
            "tenant_key": tenant_key,
            "wrapped_key": _wrap_study_key(data_key, study.tenant_id, study.pk, tenant_key),
        },
    )
    return data_key if created else _unwrap_study_key(row)


@transaction.atomic
def rotate_tenant_key(tenant: Tenant) -> tuple[TenantKey, int]:
    """Add a tenant key version and re-wrap every study key under it; blobs are not touched.

    Returns the new version and the number of study keys re-wrapped. All or nothing: on any error
    the new version and the re-wrapping are rolled back. Older versions stay (unreferenced), so a
    study key created by a concurrent ingest under the previous version still opens; running the
    rotation again re-wraps it.
    """
    # Serialises rotations of one tenant: a second one waits here, then sees the first's version.
    Tenant.objects.select_for_update().get(pk=tenant.pk)
    latest = TenantKey.objects.filter(tenant=tenant).order_by("-version").first()
    new_key = _create_tenant_key(tenant.pk, 1 if latest is None else latest.version + 1)
    pending = list(
        StudyKey.objects.filter(tenant=tenant)
        .exclude(tenant_key=new_key)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rewrapped = 0
    for start in range(0, len(pending), _REWRAP_BATCH):
        batch = list(
            StudyKey.objects.select_related("tenant_key").filter(
                pk__in=pending[start : start + _REWRAP_BATCH]
            )
        )
        for row in batch:
            data_key = _unwrap_study_key(row)
            row.wrapped_key = _wrap_study_key(data_key, row.tenant_id, row.study_id, new_key)
            row.tenant_key = new_key
        rewrapped += StudyKey.objects.bulk_update(batch, ["wrapped_key", "tenant_key"])
    return new_key, rewrapped


def shred_study_key(study: Study) -> bool:
    """Delete the study's data key: its blobs, wherever they are copied, can no longer be read.

    Copies of the database (backups) still hold the wrapped key until they expire; shredding is
    complete for them once they age out of retention.
    """
    deleted, _ = StudyKey.objects.filter(study=study).delete()
    return deleted > 0


def _current_tenant_key(tenant_id: int) -> TenantKey:
    latest = TenantKey.objects.filter(tenant_id=tenant_id).order_by("-version").first()
    return latest if latest is not None else _create_tenant_key(tenant_id, 1)


def _create_tenant_key(tenant_id: int, version: int) -> TenantKey:
    provider = get_master_key_provider()
    fields = {"wrapped_key": provider.wrap(os.urandom(KEY_BYTES)), "master_key_id": provider.key_id}
    # Version 1 can be raced for by two first ingests of a new tenant (or an ingest and a rotation):
    # the loser of the (tenant, version) constraint takes the winner's key. Later versions are only
    # made by rotations, which the tenant row lock serialises.
    row, _ = TenantKey.objects.get_or_create(tenant_id=tenant_id, version=version, defaults=fields)
    return row


def tenant_key_bytes(tenant_key: TenantKey) -> bytes:
    """The unwrapped key of one tenant key version, for wrapping the keys below it."""
    provider = get_master_key_provider()
    if tenant_key.master_key_id != provider.key_id:
        raise KeyManagementError(
            f"Key v{tenant_key.version} of tenant {tenant_key.tenant_id} was wrapped by master key "
            f"{tenant_key.master_key_id}, but the configured master key is {provider.key_id}."
        )
    return _unwrap_tenant_key(provider.key_id, bytes(tenant_key.wrapped_key))


@functools.lru_cache(maxsize=256)
def _unwrap_tenant_key(master_key_id: str, wrapped: bytes) -> bytes:
    # master_key_id is part of the cache key: another provider never gets this provider's result.
    return get_master_key_provider().unwrap(wrapped)


def _study_key_aad(tenant_id: int, study_id: int, tenant_key: TenantKey) -> bytes:
    # Binds the wrapped key to its row: copied to another study, tenant or key version, it won't open.
    return _STUDY_KEY_CONTEXT + struct.pack(">QQI", tenant_id, study_id, tenant_key.version)


def _wrap_study_key(data_key: bytes, tenant_id: int, study_id: int, tenant_key: TenantKey) -> bytes:
    # A random 96-bit nonce: NIST SP 800-38D section 8.3 allows 2^32 such encryptions per key, and a
    # tenant key version wraps each study key of its tenant once (plus new studies).
    nonce = os.urandom(_NONCE_BYTES)
    aad = _study_key_aad(tenant_id, study_id, tenant_key)
    return nonce + AESGCM(tenant_key_bytes(tenant_key)).encrypt(nonce, data_key, aad)


def _unwrap_study_key(row: StudyKey) -> bytes:
    wrapped = bytes(row.wrapped_key)
    nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    aad = _study_key_aad(row.tenant_id, row.study_id, row.tenant_key)
    try:
        return AESGCM(tenant_key_bytes(row.tenant_key)).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise KeyManagementError(
            f"The data key of study #{row.study_id} does not open under key v{row.tenant_key.version} "
            f"of tenant {row.tenant_id}."
        ) from None
