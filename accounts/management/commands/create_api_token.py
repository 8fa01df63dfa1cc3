from django.core.management.base import BaseCommand, CommandError

from accounts.models import TokenScope, User
from accounts.tokens import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS, TokenRefused, issue_token
from portal.cli import tenant_by_slug


class Command(BaseCommand):
    help = "Issue an API token for a member of a clinic; prints the token alone on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("tenant", help="Tenant slug.")
        parser.add_argument(
            "--scope",
            action="append",
            choices=TokenScope.values,
            dest="scopes",
            help="Repeat for several; every scope the member's role allows when omitted.",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            default=DEFAULT_LIFETIME_DAYS,
            metavar="DAYS",
            help=f"1 to {MAX_LIFETIME_DAYS}; {DEFAULT_LIFETIME_DAYS} when omitted.",
        )
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(
        self, email: str, tenant: str, scopes: list[str] | None, expires_in: int, name: str, **options
    ) -> None:
        clinic = tenant_by_slug(tenant)
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        try:
            token, plaintext = issue_token(
                user,
                clinic,
                scopes=[TokenScope(scope) for scope in scopes] if scopes else None,
                expires_in_days=expires_in,
                name=name,
            )
        except TokenRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Token {token.prefix}… for {user.email} at {clinic.slug}, scopes {' '.join(token.scopes)}, "
            f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC. It is shown only now:"
        )
        self.stdout.write(plaintext)
