from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from audit.models import AuditAction, Outcome
from imaging.crypto.keys import rotate_tenant_key
from imaging.crypto.providers import KeyManagementError
from portal.cli import tenant_by_slug
from portal.tenancy import tenant_scope


class Command(BaseCommand):
    help = (
        "Add a key version for a clinic and re-wrap its study keys under it (blobs are not re-encrypted), "
        "printing the progress; the counts are stored in the clinic's audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Slug of the clinic.")

    def handle(self, tenant: str, **options) -> None:
        target = tenant_by_slug(tenant)
        progress = {"done": 0, "total": 0}

        def report(done: int, total: int) -> None:
            progress.update(done=done, total=total)
            # On stderr, so that stdout keeps its one-line result for scripts.
            self.stderr.write(f"Tenant {target.slug}: {done}/{total} study keys re-wrapped")

        try:
            # The rotation and its audit event are committed together, or neither is.
            with transaction.atomic(), tenant_scope(target):
                tenant_key, rewrapped = rotate_tenant_key(target, on_progress=report)
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
                        "total": progress["total"],
                        "by": "command",
                    },
                )
        except (KeyManagementError, ImproperlyConfigured) as exc:
            if progress["total"]:
                # Rolled back whole; the trail keeps how far it had got, for the runbook (docs/keys.md).
                with tenant_scope(target):
                    audit.record(
                        AuditAction.ADMIN_CHANGE,
                        tenant=target,
                        actor_role="platform_operator",
                        outcome=Outcome.FAILURE,
                        object_type="imaging.tenantkey",
                        details={
                            "operation": "rotate_keys",
                            "rewrapped_before_failure": progress["done"],
                            "total": progress["total"],
                            "by": "command",
                        },
                    )
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Tenant {target.slug}: key version {tenant_key.version}, {rewrapped} study keys re-wrapped."
        )
