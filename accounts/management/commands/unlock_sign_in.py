from django.core.management.base import BaseCommand, CommandError

from accounts.lockout import unlock
from accounts.models import User


class Command(BaseCommand):
    help = "Lift a sign-in lockout (too many wrong passwords) from a user, from every address; audited."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, email: str, **options) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email!r}.")
        cleared = unlock(user, by="command")
        self.stdout.write(f"Sign-in unlocked for {user.email} ({cleared} attempt record(s) cleared).")
