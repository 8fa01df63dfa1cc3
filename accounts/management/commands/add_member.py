from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from accounts.roles import Role
from accounts.services import add_member
from portal.cli import tenant_by_slug, validation_failure


class Command(BaseCommand):
    help = "Give a user a role in a clinic, creating the user if missing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("--password", help="Set this password (must pass the password policy).")

    def handle(self, email: str, tenant: str, role: str, password: str | None, **options) -> None:
        clinic = tenant_by_slug(tenant)
        try:
            membership, created = add_member(email, clinic, Role(role), password=password)
        except ValidationError as exc:
            raise validation_failure(exc) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {membership.user.email}: {role} at {clinic.slug}.")
