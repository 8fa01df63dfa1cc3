"""Study keys under the per-study secret: the migration of existing keys, and rotation's progress."""

import importlib
import io
import os
import struct
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from audit.models import AuditAction, AuditEvent
from imaging.crypto import keys, providers
from imaging.crypto.keys import (
    StudyShreddedError,
    current_tenant_key,
    shred_study_key,
    study_data_key,
    tenant_key_bytes,
)
from imaging.crypto.models import StudyKey
from imaging.crypto.providers import get_master_key_provider
from portal.tenancy import tenant_scope
from tests.retention.studies import ingest_samples, read_all

pytestmark = pytest.mark.django_db

migration = importlib.import_module("imaging.migrations.0012_study_shred_secrets")


def wrap_the_old_way(row: StudyKey, data_key: bytes) -> bytes:
    """A study key as written before migration 0012: AES-GCM under the tenant key alone."""
    nonce = os.urandom(12)
    aad = b"palisade/study-key/v1" + struct.pack(">QQI", row.tenant_id, row.study_id, row.tenant_key.version)
    return nonce + AESGCM(tenant_key_bytes(row.tenant_key)).encrypt(nonce, data_key, aad)


def test_the_migration_gives_existing_study_keys_a_secret_and_keeps_their_objects_readable(tenant):
    studies = ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    before = read_all(tenant)
    provider = get_master_key_provider()
    with tenant_scope(tenant):
        for row in StudyKey.objects.select_related("tenant_key"):
            data_key = study_data_key(row.study)
            provider.destroy_study_secret(row.secret_ref)
            StudyKey.objects.filter(pk=row.pk).update(
                wrapped_key=wrap_the_old_way(row, data_key), secret_ref=""
            )
    state = MigrationLoader(connection).project_state(("imaging", "0012_study_shred_secrets"))

    migration._rewrap_with_study_secrets(state.apps, SimpleNamespace(connection=connection))

    assert read_all(tenant) == before
    with tenant_scope(tenant):
        assert all(StudyKey.objects.values_list("secret_ref", flat=True))
        # And the migrated keys shred like new ones.
        shredded = studies["CT_small.dcm"]
        row = StudyKey.objects.get(study=shredded)
        shred_study_key(shredded)
        StudyKey.objects.create(
            tenant=tenant,
            study=shredded,
            tenant_key=row.tenant_key,
            secret_ref=row.secret_ref,
            wrapped_key=row.wrapped_key,
        )  # the row as an earlier backup brings it back
        with pytest.raises(StudyShreddedError):
            study_data_key(shredded, create=False)


def test_rotate_keys_prints_its_progress_and_stores_the_counts(tenant):
    ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    before = read_all(tenant)
    out, err = io.StringIO(), io.StringIO()

    call_command("rotate_keys", "--tenant", tenant.slug, stdout=out, stderr=err)

    assert out.getvalue() == f"Tenant {tenant.slug}: key version 2, 2 study keys re-wrapped.\n"
    assert err.getvalue().splitlines() == [
        f"Tenant {tenant.slug}: 0/2 study keys re-wrapped",
        f"Tenant {tenant.slug}: 2/2 study keys re-wrapped",
    ]
    event = AuditEvent.objects.filter(tenant=tenant, action=AuditAction.ADMIN_CHANGE).latest("sequence")
    assert (event.details["rewrapped"], event.details["total"]) == (2, 2)
    assert read_all(tenant) == before


@pytest.mark.django_db(transaction=True)
def test_a_master_key_rotation_follows_the_runbook_and_loses_nothing(tenant, master_key_file, tmp_path):
    ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    before = read_all(tenant)
    call_command("backup", str(tmp_path / "under-old-key"), stdout=io.StringIO())
    old_key_id = get_master_key_provider().key_id

    # docs/keys.md, "Rotating the master key": retire the old key beside the new one.
    retired = master_key_file.parent / "retired-master-keys"
    retired.mkdir(mode=0o700)
    master_key_file.rename(retired / "2026-11.key")
    forget_provider()
    call_command("rotate_keys", "--tenant", tenant.slug, stdout=io.StringIO(), stderr=io.StringIO())

    with tenant_scope(tenant):
        current = current_tenant_key(tenant)
        assert current.master_key_id not in (old_key_id, "")
        assert set(StudyKey.objects.values_list("tenant_key__master_key_id", flat=True)) == {
            current.master_key_id
        }
    # The old backup still opens while its master key is kept retired...
    call_command("backup", "--verify", str(tmp_path / "under-old-key"), stdout=io.StringIO())
    # ...and once the retired key is destroyed, every study still reads.
    (retired / "2026-11.key").unlink()
    forget_provider()
    assert read_all(tenant) == before
    with pytest.raises(CommandError, match="was encrypted under master key"):
        call_command("backup", "--verify", str(tmp_path / "under-old-key"))


def forget_provider() -> None:
    """What a restart of the service does: the provider and unwrapped tenant keys are read afresh."""
    providers._provider_for_process.cache_clear()
    keys._unwrap_tenant_key.cache_clear()
