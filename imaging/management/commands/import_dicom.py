import time
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from imaging.ingest.receive import receive_paths
from imaging.models import IngestJob
from imaging.storage import StorageFull
from portal.agreements.services import AgreementMissing, assert_may_ingest
from portal.cli import tenant_by_slug
from portal.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Import DICOM files, folders and ZIPs into a clinic; shows progress and every refused file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            help="Then wait up to SECONDS for the worker to index everything received.",
        )

    def handle(self, tenant: str, paths: list[Path], wait: float | None, **options) -> None:
        clinic = tenant_by_slug(tenant)
        files = list(_files(paths))
        try:
            # The operator acts for the platform here; the refusal is recorded all the same.
            assert_may_ingest(clinic, channel="import", actor_role="platform_operator")
        except AgreementMissing as missing:
            raise CommandError(str(missing)) from None
        outcomes: Counter[str] = Counter()
        queued: list[str] = []
        with (
            tenant_scope(clinic),
            tqdm(total=len(files), unit="file", file=self.stderr, disable=None) as progress,
        ):
            received = receive_paths(
                clinic, ((path, str(path)) for path in files), source=IngestJob.Source.IMPORT
            )
            last_path = None
            try:
                for path, job in received:
                    outcomes[job.state] += 1
                    if job.state == IngestJob.State.REJECTED:
                        progress.clear()
                        self.stdout.write(f"refused {job.display_name}: {job.error_reason}")
                    else:
                        queued.append(job.pk)
                    if path != last_path:
                        progress.update()
                        last_path = path
            except StorageFull as exc:
                raise CommandError(
                    f"Storage is full; {len(queued)} objects were received before it."
                ) from exc
            if wait is not None and queued:
                outcomes = Counter({IngestJob.State.REJECTED: outcomes[IngestJob.State.REJECTED]})
                outcomes += self._wait_for_indexing(queued, wait)
        summary = ", ".join(
            f"{count} {IngestJob.State(state).label.lower()}" for state, count in sorted(outcomes.items())
        )
        self.stdout.write(f"{clinic.slug}: {len(files)} files: {summary or 'nothing to import'}.")

    def _wait_for_indexing(self, job_ids: list[str], seconds: float) -> Counter[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states = Counter(IngestJob.objects.filter(pk__in=job_ids).values_list("state", flat=True))
            if not states[IngestJob.State.QUEUED]:
                return states
            time.sleep(0.5)
        raise CommandError(f"Not all {len(job_ids)} received objects were indexed within {seconds:.0f}s.")


def _files(paths: list[Path]):
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise CommandError(f"No such file or folder: {path}")
