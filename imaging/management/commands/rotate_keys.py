from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from imaging.crypto.keys import rotate_tenant_key
from imaging.crypto.providers import KeyManagementError
from portal.cli import tenant_by_slug
from portal.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Add a key version for a clinic and re-wrap its study keys under it (blobs are not re-encrypted)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Slug of the clinic.")

    def handle(self, tenant: str, **options) -> None:
        target = tenant_by_slug(tenant)
        try:
            with tenant_scope(target):
                tenant_key, rewrapped = rotate_tenant_key(target)
        except (KeyManagementError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Tenant {target.slug}: key version {tenant_key.version}, {rewrapped} study keys re-wrapped."
        )
