from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from audit.models import AuditAction
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
            # The rotation and its audit event are committed together, or neither is.
            with transaction.atomic(), tenant_scope(target):
                tenant_key, rewrapped = rotate_tenant_key(target)
                # A change to the clinic's security configuration, by an operator: in its trail.
                audit.record(
                    AuditAction.ADMIN_CHANGE,
                    tenant=target,
                    actor_role="platform_operator",
                    object_type=tenant_key._meta.label_lower,
                    object_ids=[str(tenant_key.pk)],
                    details={
                        "operation": "rotate_keys",
                        "version": tenant_key.version,
                        "rewrapped": rewrapped,
                        "by": "command",
                    },
                )
        except (KeyManagementError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Tenant {target.slug}: key version {tenant_key.version}, {rewrapped} study keys re-wrapped."
        )
