"""Tenant keys and study data keys. Call these inside the tenant's `tenant_scope`.

The master key wraps each tenant key version; the current tenant key version, combined with a
secret of the study held by the key provider, wraps one data key per study. Study keys are never
cached unwrapped, so shredding one takes effect at once in every process. Unwrapped tenant keys are
cached per process, keyed by their wrapped form, because unwrapping them may be a round trip to an HSM.

Why a per-study secret outside the database: a database backup holds every wrapped study key, and
the master and tenant keys that open them still exist after a study is shredded. Deleting the
study's row alone would leave the study readable to anyone who restores an earlier backup. The
wrapping key is derived from the tenant key *and* the study's secret (HKDF, RFC 5869); the secret
lives only in the key provider (a 0600 file under var/keys/study-secrets/, or an object in the HSM),
is never written into a backup, and is destroyed first when the study is shredded.
"""

import functools
import os
import struct
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.db import transaction

from imaging.crypto.models import StudyKey, TenantKey
from imaging.crypto.providers import (
    KeyManagementError,
    StudySecretDestroyedError,
    get_master_key_provider,
)
from imaging.models import Study
from portal.compiled_query import INTEGER, CompiledQuery, columns, instances
from portal.models import Tenant

KEY_BYTES = 32
_NONCE_BYTES = 12
# v2: the wrapping key is derived from the tenant key and the study's secret (migration 0012).
_STUDY_KEY_CONTEXT = b"palisade/study-key/v2"
_REWRAP_BATCH = 500


class MissingStudyKeyError(KeyManagementError):
    """The study has no data key: nothing was stored for it, or it was crypto-shredded."""


class StudyShreddedError(MissingStudyKeyError):
    """The study's wrapped key exists (a database restored from an earlier backup) but its secret
    was destroyed in the key provider: the study was crypto-shredded and can never be decrypted."""


def current_tenant_key(tenant: Tenant) -> TenantKey:
    """The tenant's highest key version, creating version 1 on first use."""
    return _current_tenant_key(tenant.pk)


def study_data_key(study: Study, *, create: bool = True) -> bytes:
    """The study's 256-bit data key, created on first use unless `create` is false.

    Read paths pass create=False: a shredded study must fail to open, not get a fresh key.
    Creation is safe under concurrency: two workers ingesting the same study race on the one-to-one
    constraint, and get_or_create's savepoint lets the loser read the winner's key.
    """
    rows = _STUDY_KEY.rows(study.tenant_id, study.pk)
    if rows:
        existing, tenant_key = instances(rows[0], StudyKey, TenantKey)
        existing.tenant_key = tenant_key
        return _unwrap_study_key(existing)
    if not create:
        raise MissingStudyKeyError(f"Study #{study.pk} has no data key (never written, or shredded).")
    tenant_key = _current_tenant_key(study.tenant_id)
    data_key = os.urandom(KEY_BYTES)
    provider = get_master_key_provider()
    secret_ref = provider.create_study_secret()
    try:
        row, created = StudyKey.objects.select_related("tenant_key").get_or_create(
            study=study,
            defaults={
                "tenant_id": study.tenant_id,
                "tenant_key": tenant_key,
                "secret_ref": secret_ref,
                "wrapped_key": _wrap_study_key(data_key, study.tenant_id, study.pk, tenant_key, secret_ref),
            },
        )
    except BaseException:
        provider.destroy_study_secret(secret_ref)
        raise
    if not created:
        # Another worker keyed the study first: its secret is the study's, ours is unused.
        provider.destroy_study_secret(secret_ref)
        return _unwrap_study_key(row)
    return data_key


RotationProgress = Callable[[int, int], None]


@transaction.atomic
def rotate_tenant_key(
    tenant: Tenant, *, on_progress: RotationProgress | None = None
) -> tuple[TenantKey, int]:
    """Add a tenant key version and re-wrap every study key under it; blobs are not touched.

    Returns the new version and the number of study keys re-wrapped. All or nothing: on any error
    the new version and the re-wrapping are rolled back. Older versions stay (unreferenced), so a
    study key created by a concurrent ingest under the previous version still opens; running the
    rotation again re-wraps it. `on_progress(done, total)` is called before the first batch and
    after each one. The study secrets are kept: rotation changes the tenant key, not the studies'.
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
    if on_progress is not None:
        on_progress(0, len(pending))
    for start in range(0, len(pending), _REWRAP_BATCH):
        batch = list(
            StudyKey.objects.select_related("tenant_key").filter(
                pk__in=pending[start : start + _REWRAP_BATCH]
            )
        )
        for row in batch:
            data_key = _unwrap_study_key(row)
            row.wrapped_key = _wrap_study_key(data_key, row.tenant_id, row.study_id, new_key, row.secret_ref)
            row.tenant_key = new_key
        rewrapped += StudyKey.objects.bulk_update(batch, ["wrapped_key", "tenant_key"])
        if on_progress is not None:
            on_progress(rewrapped, len(pending))
    return new_key, rewrapped


def shred_study_key(study: Study) -> bool:
    """Destroy the study's data key: its blobs, wherever they are copied, can no longer be read.

    The study's secret goes first, in the key provider: from that moment the wrapped key is useless
    here and in every earlier database backup. The row goes next. Returns whether there was a key.
    Irreversible even if the caller's transaction rolls back (the secret is not in the database):
    call it outside one, as imaging.retention.erasure does.
    """
    row = StudyKey.objects.filter(study=study).first()
    if row is None:
        return False
    get_master_key_provider().destroy_study_secret(row.secret_ref)
    StudyKey.objects.filter(pk=row.pk).delete()
    return True


def study_is_shredded(row: StudyKey) -> bool:
    """Whether the study of this key row (e.g. one restored from a backup) lost its secret."""
    try:
        get_master_key_provider().study_secret(row.secret_ref)
    except StudySecretDestroyedError:
        return True
    return False


def _current_tenant_key(tenant_id: int) -> TenantKey:
    rows = _LATEST_TENANT_KEY.rows(tenant_id)
    return instances(rows[0], TenantKey)[0] if rows else _create_tenant_key(tenant_id, 1)


# Asked by every retrieval and every object received: compiled once (portal/compiled_query.py).
_STUDY_KEY = CompiledQuery(
    lambda tenant_id, study_id: StudyKey.objects.filter(tenant_id=tenant_id, study_id=study_id).values_list(
        *columns(StudyKey), *columns(TenantKey, "tenant_key")
    ),
    INTEGER,
    INTEGER,
    tenant_owned=True,
)

# Asked for every object received: compiled once (portal/compiled_query.py).
_LATEST_TENANT_KEY = CompiledQuery(
    lambda tenant_id: (
        TenantKey.objects.filter(tenant_id=tenant_id)
        .order_by("-version")
        .values_list(*columns(TenantKey))[:1]
    ),
    INTEGER,
    tenant_owned=True,
)


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
    if tenant_key.master_key_id not in provider.key_ids:
        raise KeyManagementError(
            f"Key v{tenant_key.version} of tenant {tenant_key.tenant_id} was wrapped by master key "
            f"{tenant_key.master_key_id}, but the configured master key is {provider.key_id}."
        )
    return _unwrap_tenant_key(tenant_key.master_key_id, bytes(tenant_key.wrapped_key))


@functools.lru_cache(maxsize=256)
def _unwrap_tenant_key(master_key_id: str, wrapped: bytes) -> bytes:
    # Keyed by the master key that wrapped it; tenant_key_bytes refuses, before this cache, a provider
    # that does not hold that master key.
    return get_master_key_provider().unwrap(wrapped)


def seal_study_key(
    data_key: bytes, *, tenant_key: bytes, version: int, secret: bytes, tenant_id: int, study_id: int
) -> bytes:
    """Wrap a study's data key by its tenant key version and its secret (both needed to unwrap).

    Works on bytes only, so that migration 0012 can re-wrap keys of the old scheme with it."""
    # A random 96-bit nonce under a key derived for this one study: far below the 2^32 encryptions
    # per key of NIST SP 800-38D section 8.3.
    nonce = os.urandom(_NONCE_BYTES)
    wrapping_key = _study_wrapping_key(tenant_key, secret, tenant_id, study_id, version)
    return nonce + AESGCM(wrapping_key).encrypt(nonce, data_key, _study_key_aad(tenant_id, study_id, version))


def _study_key_aad(tenant_id: int, study_id: int, version: int) -> bytes:
    # Binds the wrapped key to its row: copied to another study, tenant or key version, it won't open.
    return _STUDY_KEY_CONTEXT + struct.pack(">QQI", tenant_id, study_id, version)


def _study_wrapping_key(
    tenant_key: bytes, secret: bytes, tenant_id: int, study_id: int, version: int
) -> bytes:
    # HKDF-SHA256 with the study's secret as salt: without the secret (destroyed at shredding), the
    # tenant key alone derives nothing useful.
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=secret,
        info=_study_key_aad(tenant_id, study_id, version),
    ).derive(tenant_key)


def _wrap_study_key(
    data_key: bytes, tenant_id: int, study_id: int, tenant_key: TenantKey, secret_ref: str
) -> bytes:
    return seal_study_key(
        data_key,
        tenant_key=tenant_key_bytes(tenant_key),
        version=tenant_key.version,
        secret=get_master_key_provider().study_secret(secret_ref),
        tenant_id=tenant_id,
        study_id=study_id,
    )


def _unwrap_study_key(row: StudyKey) -> bytes:
    # The tenant key first: a wrong master key is named as such, not mistaken for a shredding.
    tenant_key = tenant_key_bytes(row.tenant_key)
    try:
        secret = get_master_key_provider().study_secret(row.secret_ref)
    except StudySecretDestroyedError:
        raise StudyShreddedError(
            f"Study #{row.study_id} was crypto-shredded: its secret is gone from the key provider, so "
            "its data key (still in this database, restored from an earlier backup) can never be opened."
        ) from None
    wrapped = bytes(row.wrapped_key)
    nonce, sealed = wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:]
    version = row.tenant_key.version
    wrapping_key = _study_wrapping_key(tenant_key, secret, row.tenant_id, row.study_id, version)
    try:
        return AESGCM(wrapping_key).decrypt(
            nonce, sealed, _study_key_aad(row.tenant_id, row.study_id, version)
        )
    except InvalidTag:
        raise KeyManagementError(
            f"The data key of study #{row.study_id} does not open under key v{version} "
            f"of tenant {row.tenant_id}."
        ) from None
