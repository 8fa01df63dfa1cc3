from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.journal import drain


class Command(BaseCommand):
    help = (
        "Chain the audit events waiting in the audit journal folder (PALISADE_AUDIT_JOURNAL_DIR) whose web "
        "process is gone: after a crash, or before a web node is retired. Files a running web process "
        "still writes are left to it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", type=Path, help="The journal folder, if not the configured one.")

    def handle(self, *args, dir: Path | None = None, **options) -> None:
        directory = dir or Path(settings.PALISADE_AUDIT_JOURNAL_DIR)
        if not directory.is_dir():
            self.stdout.write(f"No audit journal in {directory}.")
            return
        chained = drain(directory)
        self.stdout.write(f"Chained {chained} audit event(s) from {directory}.")
