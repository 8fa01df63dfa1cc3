from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from portal.agreements import services
from portal.agreements.models import AgreementKind
from portal.cli import tenant_by_slug


class Command(BaseCommand):
    help = (
        "Record a clinic's acceptance of the current agreement texts, as for a signed paper copy the "
        "operator holds (default: every kind the clinic's jurisdiction requires)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument("--signer", required=True, metavar="EMAIL", help="The signer's Palisade account.")
        parser.add_argument("--name", required=True, help="The signer's full name, as signed.")
        parser.add_argument("--role", required=True, help="The signer's position at the clinic.")
        parser.add_argument(
            "--kind",
            action="append",
            choices=AgreementKind.values,
            dest="kinds",
            help="An agreement kind to accept; repeat for several.",
        )

    def handle(
        self, tenant: str, signer: str, name: str, role: str, kinds: list[str] | None, **options
    ) -> None:
        clinic = tenant_by_slug(tenant)
        user = User.objects.filter(email__iexact=signer.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {signer!r}.")
        name, role = " ".join(name.split()), " ".join(role.split())
        if not name or not role:
            raise CommandError("--name and --role must not be blank.")
        if kinds is None:
            kinds = services.required_kinds(clinic)
            if not kinds:
                raise CommandError(f"Tenant {clinic.slug!r} requires no agreement.")
        try:
            accepted = services.accept_current(
                clinic, signer=user, signer_name=name, signer_role=role, kinds=list(dict.fromkeys(kinds))
            )
        except services.AgreementNotPublished as exc:
            raise CommandError(str(exc)) from None
        for acceptance in accepted:
            self.stdout.write(
                f"{clinic.slug}: {acceptance.text} accepted, in force until {acceptance.expires_at:%Y-%m-%d} "
                f"(sha256 {acceptance.document_sha256})."
            )
