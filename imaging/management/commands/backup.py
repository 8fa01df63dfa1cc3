from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from imaging.backup.archive import BackupError
from imaging.backup.snapshot import create_backup, verify_backup
from imaging.crypto.providers import KeyManagementError


class Command(BaseCommand):
    help = (
        "Write an encrypted, verifiable backup of the database (wrapped keys and audit trail included) and "
        "the manifest of stored objects into a new folder; --verify checks an existing backup instead."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dest", type=Path, help="A new or empty folder (with --verify: the backup).")
        parser.add_argument(
            "--verify", action="store_true", help="Check the backup's hashes and decrypt it; write nothing."
        )

    def handle(self, *args, dest: Path, verify: bool, **options) -> None:
        try:
            if verify:
                manifest = verify_backup(dest)
                counts = manifest.content["counts"]
                self.stdout.write(
                    f"Backup {manifest.backup_id} in {dest} verified: {counts['rows']} rows, "
                    f"{counts['objects']} stored objects, every segment authentic."
                )
                return
            summary = create_backup(dest)
        except (BackupError, KeyManagementError, ImproperlyConfigured, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Backup {summary.backup_id} written to {summary.path}: {summary.rows} rows, "
            f"{summary.objects} stored objects, in {summary.seconds:.1f} s."
        )
