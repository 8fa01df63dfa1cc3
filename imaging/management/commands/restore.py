from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from imaging.backup.archive import BackupError
from imaging.backup.restore import restore_backup
from imaging.crypto.providers import KeyManagementError


class Command(BaseCommand):
    help = (
        "Rebuild the portal from a backup into an empty database, then verify every stored object of the "
        "manifest and the audit chains; prints the recovery time (RTO)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("src", type=Path, help="The backup folder (written by `backup`).")
        parser.add_argument(
            "--keep-shredded",
            action="store_true",
            help="Keep the rows of studies crypto-shredded since the backup (for an investigation); by "
            "default their erasure is applied again.",
        )

    def handle(self, *args, src: Path, keep_shredded: bool, **options) -> None:
        try:
            report = restore_backup(src, keep_shredded=keep_shredded)
        except (BackupError, KeyManagementError, ImproperlyConfigured, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored backup {report.backup_id}: {report.rows} rows.")
        for line in report.chains:
            self.stdout.write(f"  {line}")
        self.stdout.write(f"Checked {report.objects_checked} stored copies against the manifest.")
        for study in report.shredded:
            # Expected after an erasure: the key provider no longer holds the study's secret.
            self.stdout.write(
                f"  {study}: crypto-shredded after this backup was taken; its objects cannot be decrypted."
            )
        for study in report.erased_again:
            self.stdout.write(f"  {study}: erasure applied again.")
        for problem in report.problems:
            self.stderr.write(f"  PROBLEM {problem}")
        self.stdout.write(f"RTO: {report.seconds:.1f} s (wall time of the restore and its checks).")
        if report.problems:
            raise CommandError(
                f"Restore of backup {report.backup_id} found {len(report.problems)} problem(s); see above."
            )
