from django.core.management.base import BaseCommand, CommandError

from imaging.crypto.providers import KeyManagementError
from imaging.retention.rules import enforce_retention
from portal.models import Tenant
from portal.tenancy import all_tenants_scope


class Command(BaseCommand):
    help = (
        "Destroy the studies whose retention period has ended and that no legal hold keeps, each with a "
        "certificate of destruction. --dry-run lists them, and why, without destroying anything."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Report only; destroy nothing.")
        parser.add_argument("--tenant", help="Only this clinic (its slug).")

    def handle(self, *args, dry_run: bool, tenant: str | None, **options) -> None:
        with all_tenants_scope():
            tenants = Tenant.objects.filter(is_active=True).order_by("slug")
            if tenant is not None:
                tenants = tenants.filter(slug=tenant)
            selected = list(tenants)
        if tenant is not None and not selected:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        for clinic in selected:
            try:
                report = enforce_retention(clinic, dry_run=dry_run)
            except KeyManagementError as exc:
                raise CommandError(f"Tenant {clinic.slug}: {exc}") from exc
            # Identifiers and dates only: the report may be mailed or pasted into a ticket.
            destroyed = {certificate.study_ref for certificate in report.destroyed}
            for item in report.expired:
                if item.held:
                    continue  # Counted below; a held study is never on the list of what goes.
                if dry_run:
                    verdict = "would destroy"
                else:
                    verdict = (
                        "destroyed" if item.study_id in destroyed else "not destroyed: held or gone meanwhile"
                    )
                self.stdout.write(
                    f"{clinic.slug} study #{item.study_id} {item.study_instance_uid}: retention ended "
                    f"{item.keep_until.isoformat()} under rule {item.rule.pk} "
                    f"({item.rule.modality or 'every modality'}, {item.rule.years_after_study} years) "
                    f"- {verdict}"
                )
            held = sum(1 for item in report.expired if item.held)
            due = len(report.expired) - held
            summary = f"{due} to destroy" if dry_run else f"{len(report.destroyed)} destroyed"
            self.stdout.write(
                f"Tenant {clinic.slug}: {len(report.expired)} past retention, {summary}, {held} on legal "
                f"hold, {report.kept_unknown_dates} kept for want of a study or birth date."
            )
