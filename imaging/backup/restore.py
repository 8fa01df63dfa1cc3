"""Restore: rebuild a portal from a backup (imaging.backup.snapshot) into an empty database, and prove
it: every stored object in its place with its hash, the audit chains intact, the studies shredded
since the backup named and erased again. docs/backup.md describes the drill.
"""

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import connection, transaction

import audit
from audit.models import AuditAction, AuditEvent
from imaging import storage
from imaging.backup import archive
from imaging.backup.archive import BackupError, Manifest
from imaging.backup.snapshot import applied_migrations
from imaging.crypto.keys import study_is_shredded
from imaging.crypto.models import StudyKey, TenantKey
from imaging.models import Study
from imaging.retention.erasure import ErasureRefused, destroy_study
from imaging.retention.models import DestructionCertificate
from portal.agreements.models import AgreementText
from portal.models import Tenant
from portal.tenancy import all_tenants_scope


@dataclass
class RestoreReport:
    backup_id: str
    rows: int = 0
    objects_checked: int = 0
    problems: list[str] = field(default_factory=list)
    shredded: list[str] = field(default_factory=list)
    erased_again: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    seconds: float = 0.0


def restore_backup(src: Path, *, keep_shredded: bool = False) -> RestoreReport:
    """Rebuild the portal from the backup in `src` into an empty database, then verify it: every
    stored object present with its hash, the audit chains intact. Problems are reported, not raised,
    once the rows are in: the operator needs to see all of them.

    Studies crypto-shredded since the backup was taken come back as rows whose key no longer opens.
    Their erasure is then applied again (rows and any copies left deleted, a new certificate), unless
    `keep_shredded` (an investigation that needs to see what the backup held)."""
    started = time.monotonic()
    manifest = archive.read_manifest(Path(src))
    key = archive.backup_key(manifest)
    with all_tenants_scope():
        # Before migrate, so that a database in use is refused without any change to its schema.
        if Tenant._meta.db_table in connection.introspection.table_names():
            _refuse_non_empty_database()
    call_command("migrate", interactive=False, verbosity=0)
    _check_migrations_match(manifest)
    report = RestoreReport(manifest.backup_id)
    with all_tenants_scope():
        _refuse_non_empty_database()
        report.rows = _load_rows(manifest, key)
        shredded = _shredded_studies(report)
        _verify_objects(manifest, key, shredded, report)
        _verify_audit_chains(report)
        if not keep_shredded:
            _erase_shredded_again(shredded, manifest, report)
        report.seconds = time.monotonic() - started
        audit.record(
            AuditAction.BACKUP_RESTORED,
            actor_role="platform_operator",
            object_type="backup",
            object_ids=[manifest.backup_id],
            details={
                "rows": report.rows,
                "objects_checked": report.objects_checked,
                "problems": len(report.problems),
                "shredded_studies": len(report.shredded),
                "erased_again": len(report.erased_again),
                "rto_seconds": round(report.seconds, 3),
            },
        )
    return report


def _check_migrations_match(manifest: Manifest) -> None:
    # Rows are loaded as the backup's schema wrote them: the code must be at the same migrations.
    ours, theirs = applied_migrations(), manifest.migrations
    if ours != theirs:
        missing = sorted(
            f"{app}.{name}"
            for app, names in theirs.items()
            for name in names
            if name not in ours.get(app, [])
        )
        extra = sorted(
            f"{app}.{name}"
            for app, names in ours.items()
            for name in names
            if name not in theirs.get(app, [])
        )
        raise BackupError(
            f"Backup {manifest.backup_id} was taken at other migrations (this code lacks {missing[:3]}, "
            f"has {extra[:3]} it did not): restore with the release that took it, then upgrade."
        )


def _refuse_non_empty_database() -> None:
    found = {
        label: model._base_manager.count()
        for label, model in (
            ("tenants", Tenant),
            ("users", get_user_model()),
            ("studies", Study),
            ("tenant keys", TenantKey),
            ("audit events", AuditEvent),
        )
    }
    present = ", ".join(f"{count} {label}" for label, count in found.items() if count)
    if present:
        raise BackupError(
            f"The database is not empty ({present}): restore only rebuilds a portal on an empty database. "
            "Point DATABASE_URL at a new database and run restore again."
        )


def _load_rows(manifest: Manifest, key: bytes) -> int:
    loaded, models = 0, set()
    with transaction.atomic():
        # migrate made content types and permissions of its own numbering; the backup's replace them
        # (nothing refers to them yet in an empty database). So with the agreement texts migration
        # agreements/0002 published.
        Permission.objects.all().delete()
        ContentType.objects.all().delete()
        AgreementText.objects.all().delete()
        for line in archive.read_lines(manifest, archive.DATABASE, key):
            for obj in serializers.deserialize("jsonl", line.decode()):
                obj.save()
                models.add(type(obj.object))
                loaded += 1
        # Foreign keys are checked at commit (deferred constraints); sequences follow the loaded IDs.
        statements = connection.ops.sequence_reset_sql(no_style(), list(models))
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    ContentType.objects.clear_cache()
    return loaded


def _shredded_studies(report: RestoreReport) -> set[int]:
    shredded = set()
    for row in StudyKey.objects.select_related("study").order_by("study_id"):
        if study_is_shredded(row):
            shredded.add(row.study_id)
            report.shredded.append(f"study #{row.study_id} {row.study.study_instance_uid}")
    return shredded


def _erase_shredded_again(shredded: set[int], manifest: Manifest, report: RestoreReport) -> None:
    for study in Study.objects.filter(pk__in=shredded).select_related("tenant").order_by("pk"):
        try:
            certificate = destroy_study(
                study,
                basis=DestructionCertificate.Basis.RESTORE,
                reason=f"Shredded after backup {manifest.backup_id} was taken.",
            )
        except ErasureRefused as exc:
            report.problems.append(f"study #{study.pk}: shredded, but its erasure was not re-applied: {exc}")
            continue
        report.erased_again.append(
            f"study #{study.pk} {study.study_instance_uid}: certificate {certificate.pk}"
        )


def _verify_objects(manifest: Manifest, key: bytes, shredded: set[int], report: RestoreReport) -> None:
    for line in archive.read_lines(manifest, archive.OBJECTS, key):
        entry = json.loads(line)
        if entry["study"] in shredded:
            continue  # Undecryptable whatever is left of it; reported once per study.
        for region, name in entry["copies"]:
            report.objects_checked += 1
            problem = _copy_problem(region, name, entry["ciphertext_sha256"])
            if problem:
                report.problems.append(f"{entry['kind']} {entry['id']} in {region}: {problem}")


def _copy_problem(region: str, name: str, expected_sha256: str | None) -> str:
    try:
        if not storage.object_exists(region, name):
            return "missing"
        if expected_sha256 is None:
            return ""
        with storage.open_object(region, name) as blob:
            actual = archive.file_sha256(blob)
    except OSError as exc:
        return f"unreadable ({exc.__class__.__name__})"
    return "" if actual == expected_sha256 else "ciphertext does not match its hash"


def _verify_audit_chains(report: RestoreReport) -> None:
    out = io.StringIO()
    try:
        call_command("verify_audit_chain", stdout=out)
    except CommandError as exc:
        report.problems.append(f"audit trail: {exc}")
    report.chains = [line for line in out.getvalue().splitlines() if line]
