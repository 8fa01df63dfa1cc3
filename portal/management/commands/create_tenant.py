from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from portal.cli import validation_failure
from portal.services import create_tenant


class Command(BaseCommand):
    help = "Create a clinic (tenant) in a home region, with optional replica regions in its jurisdiction."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--region", help="Home region; defaults to the first configured region.")
        parser.add_argument("--replica-region", action="append", default=[], dest="replica_regions")

    def handle(self, slug: str, name: str, region: str | None, replica_regions: list[str], **options) -> None:
        try:
            tenant = create_tenant(slug, name, region=region, replica_regions=replica_regions)
        except ValidationError as exc:
            raise validation_failure(exc) from exc
        self.stdout.write(
            f"Created tenant {tenant.slug} in {tenant.home_region} (AE title {tenant.ae_title})."
        )
