"""Backups of a Palisade installation: its database, with the manifest of its stored objects.

Why Django's serialisers inside one transaction, not pg_dump or SQLite's backup API: the same backup
then works on SQLite (embedded) and PostgreSQL alike and restores into either; rows keep their
primary keys, so every wrapped key still names its row (the keys' associated data binds those IDs);
and the rows are encrypted as they are serialised, never written in clear. The one transaction is
the snapshot: REPEATABLE READ on PostgreSQL, an immediate transaction on SQLite (writers wait).
PostgreSQL's own point-in-time recovery (WAL archiving) is documented beside it, in docs/backup.md.

Blobs are not copied: they are never overwritten in place (server-generated names, new versions get
new names), so the manifest's names and hashes find them in the region storages. Restore checks each.
"""

import datetime
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

import audit
from audit.models import AuditAction
from imaging.backup import archive
from imaging.backup.archive import BackupError, Manifest
from imaging.models import SeriesThumbnail, StoredObject
from imaging.replication.services import all_copies
from portal.tenancy import all_tenants_scope

_CHUNK = 500
# Rows that belong to one running installation, not to its data: sessions (restoring them would sign
# people back in) are left out.
_NOT_BACKED_UP = {"sessions.session"}


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    backup_id: str
    rows: int
    objects: int
    seconds: float


def create_backup(dest: Path) -> BackupSummary:
    """Write a backup into `dest`, a new or empty folder."""
    started = time.monotonic()
    dest = Path(dest)
    if connection.in_atomic_block:
        # Its own transaction is the snapshot; nested in another it could not set its isolation.
        raise BackupError("A backup runs outside any transaction.")
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: a backup goes into a new folder.")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    backup_id = str(uuid.uuid4())
    key, wrapped_key, master_key_id = archive.new_backup_key()
    counts = {"rows": 0, "objects": 0}
    with all_tenants_scope(), transaction.atomic():
        if connection.vendor == "postgresql":
            # The first statement of the transaction: every query below then sees one snapshot.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        files = {
            archive.DATABASE: archive.write_encrypted(
                dest, archive.DATABASE, key, backup_id, _counted(_database_rows(), counts, "rows")
            ),
            archive.OBJECTS: archive.write_encrypted(
                dest, archive.OBJECTS, key, backup_id, _counted(_object_entries(), counts, "objects")
            ),
        }
        migrations = applied_migrations()
    archive.write_manifest(
        dest,
        {
            "format": archive.FORMAT,
            "backup_id": backup_id,
            "created_at": timezone.now().isoformat(),
            "database_vendor": connection.vendor,
            "master_key_id": master_key_id,
            "wrapped_key": wrapped_key.hex(),
            "migrations": migrations,
            "counts": counts,
            "files": files,
        },
    )
    audit.record(
        AuditAction.BACKUP_CREATED,
        actor_role="platform_operator",
        object_type="backup",
        object_ids=[backup_id],
        details=counts,
    )
    return BackupSummary(dest, backup_id, counts["rows"], counts["objects"], time.monotonic() - started)


def verify_backup(src: Path) -> Manifest:
    """Check the files against the manifest and decrypt every segment; raises BackupError."""
    manifest = archive.read_manifest(Path(src))
    key = archive.backup_key(manifest)
    for name, count in ((archive.DATABASE, "rows"), (archive.OBJECTS, "objects")):
        lines = sum(1 for _ in archive.read_lines(manifest, name, key))
        if lines != manifest.content["counts"][count]:
            raise BackupError(f"{manifest.path / name} holds {lines} {count}, the manifest says otherwise.")
    return manifest


def _database_rows() -> Iterator[bytes]:
    for model in _backed_up_models():
        rows = model._base_manager.order_by("pk")
        chunk = []
        for row in rows.iterator(chunk_size=2000):
            chunk.append(row)
            if len(chunk) == _CHUNK:
                yield _serialize(chunk)
                chunk = []
        if chunk:
            yield _serialize(chunk)


class _ExactJSONEncoder(DjangoJSONEncoder):
    """Django's encoder cuts datetimes to milliseconds (ECMA-262); restored rows must be exact, the
    audit chain's hashes cover microseconds."""

    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def _serialize(rows: list) -> bytes:
    return serializers.serialize("jsonl", rows, cls=_ExactJSONEncoder).encode()


def _backed_up_models() -> list:
    app_list = [(config, None) for config in apps.get_app_configs() if config.models_module is not None]
    models = serializers.sort_dependencies(app_list, allow_cycles=True)
    return [
        model
        for model in models
        if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in _NOT_BACKED_UP
    ]


def _object_entries() -> Iterator[bytes]:
    objects = StoredObject.objects.select_related("tenant", "instance__series").order_by("pk")
    for stored in objects.iterator(chunk_size=_CHUNK):
        yield _entry(
            stored, "object", stored.instance.series.study_id if stored.instance else None, all_copies(stored)
        )
    thumbnails = SeriesThumbnail.objects.exclude(storage_name="").select_related("series").order_by("pk")
    for thumbnail in thumbnails.iterator(chunk_size=_CHUNK):
        # Thumbnails keep no hash of their own: presence is checked, not content.
        yield _entry(
            thumbnail, "thumbnail", thumbnail.series.study_id, [(thumbnail.region, thumbnail.storage_name)]
        )


def _entry(row, kind: str, study_id: int | None, copies: list[tuple[str, str]]) -> bytes:
    content = {
        "kind": kind,
        "id": str(row.pk),
        "tenant": row.tenant_id,
        "study": study_id,
        "copies": [list(copy) for copy in copies],
        "ciphertext_sha256": getattr(row, "ciphertext_sha256", None),
        "ciphertext_size": getattr(row, "ciphertext_size", None),
    }
    return json.dumps(content, separators=(",", ":")).encode() + b"\n"


def _counted(chunks: Iterator[bytes], counts: dict, name: str) -> Iterator[bytes]:
    for chunk in chunks:
        counts[name] += chunk.count(b"\n")
        yield chunk


def applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}
