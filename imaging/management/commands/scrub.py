from django.core.management.base import BaseCommand, CommandError

from imaging.replication.scrub import scrub_tenant
from portal.cli import tenant_by_slug
from portal.models import Tenant
from portal.tenancy import tenant_scope


def _positive(cast):
    def parse(value: str):
        number = cast(value)
        if number <= 0:
            raise ValueError(value)
        return number

    parse.__name__ = cast.__name__
    return parse


class Command(BaseCommand):
    help = (
        "Check the ciphertext SHA-256 of every copy of every stored object (home and replicas) without "
        "decrypting; with --repair, rewrite missing or corrupt copies from a good one. Resumes where the "
        "last scrub of each clinic stopped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Slug of one clinic (default: every active clinic).")
        parser.add_argument("--repair", action="store_true", help="Rewrite missing or corrupt copies.")
        parser.add_argument("--rate", type=_positive(float), help="At most N objects per second.")
        parser.add_argument(
            "--limit", type=_positive(int), help="Stop after N objects (the next scrub resumes)."
        )

    def handle(
        self, *, tenant: str | None, repair: bool, rate: float | None, limit: int | None, **options
    ) -> None:
        tenants = (
            [tenant_by_slug(tenant)] if tenant else list(Tenant.objects.filter(is_active=True).order_by("pk"))
        )
        unrepaired = 0
        for target in tenants:
            if limit is not None and limit <= 0:
                break
            with tenant_scope(target):
                report = scrub_tenant(target, repair=repair, rate=rate, limit=limit)
            if limit is not None:
                limit -= report.objects
            where = (
                "pass complete" if report.pass_complete else "stopped at the limit; the next scrub resumes"
            )
            self.stdout.write(
                f"Tenant {target.slug}: {report.objects} objects, {report.copies} copies checked, "
                f"{len(report.repaired)} repaired, {len(report.unrepaired)} not repaired ({where})."
            )
            for finding in report.findings:
                outcome = "repaired" if finding.repaired else "NOT repaired"
                self.stdout.write(
                    f"  object {finding.object_id} in {finding.region}: {finding.state}, {outcome}"
                )
            unrepaired += len(report.unrepaired)
        if unrepaired:
            hint = "" if repair else " (run with --repair)"
            raise CommandError(
                f"{unrepaired} copies are missing, corrupt or unreadable and were not repaired{hint}."
            )
