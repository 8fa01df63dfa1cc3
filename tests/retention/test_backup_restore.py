"""Backup and restore: the disaster-recovery drill of docs/backup.md, for real."""

import io

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from imaging.models import StoredObject
from portal.tenancy import tenant_scope
from tests.retention.studies import ingest_samples, read_all

pytestmark = pytest.mark.django_db(transaction=True)


def backup(dest) -> str:
    out = io.StringIO()
    call_command("backup", str(dest), stdout=out)
    return out.getvalue()


def restore(src, *options: str) -> str:
    out = io.StringIO()
    call_command("restore", str(src), *options, stdout=out)
    return out.getvalue()


def wipe_database() -> None:
    """The lost database: every table emptied (the blobs stay in their region storage)."""
    call_command("flush", interactive=False, verbosity=0)


def test_a_restored_portal_reads_every_instance_byte_exact_and_its_audit_chain_verifies(tenant, tmp_path):
    ingest_samples(tenant)
    before = read_all(tenant)
    dest = tmp_path / "backup"

    assert "3 stored objects" in backup(dest)
    wipe_database()
    assert not StoredObject.objects.model._base_manager.exists()
    output = restore(dest)

    assert "RTO:" in output
    assert "chain tenant-" in output and "intact" in output
    assert read_all(tenant) == before
    call_command("verify_audit_chain", stdout=io.StringIO())


def test_a_backup_holds_no_plaintext_and_verifies(tenant, tmp_path):
    ingest_samples(tenant, ["CT_small.dcm"])
    with tenant_scope(tenant):
        study_uid = StoredObject.objects.get().instance.series.study.study_instance_uid
    dest = tmp_path / "backup"
    backup(dest)

    for path in dest.iterdir():
        assert study_uid.encode() not in path.read_bytes()
    out = io.StringIO()
    call_command("backup", "--verify", str(dest), stdout=out)
    assert "verified" in out.getvalue()


def test_a_changed_backup_fails_verification(tenant, tmp_path):
    ingest_samples(tenant, ["CT_small.dcm"])
    dest = tmp_path / "backup"
    backup(dest)
    database = dest / "database.jsonl.plsd"
    data = bytearray(database.read_bytes())
    data[100] ^= 1
    database.write_bytes(bytes(data))

    with pytest.raises(CommandError, match=r"database\.jsonl\.plsd does not match the manifest"):
        call_command("backup", "--verify", str(dest))


def test_restore_into_a_database_that_is_not_empty_is_refused(tenant, tmp_path):
    ingest_samples(tenant, ["CT_small.dcm"])
    dest = tmp_path / "backup"
    backup(dest)
    events = AuditEvent.objects.count()

    with pytest.raises(CommandError, match=r"The database is not empty \(1 tenants, .*restore only rebuilds"):
        restore(dest)
    assert AuditEvent.objects.count() == events


def test_a_backup_goes_into_a_new_folder(tenant, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("x")

    with pytest.raises(CommandError, match="is not empty"):
        backup(tmp_path / "taken")
