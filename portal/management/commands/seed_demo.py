import base64
import hashlib
import hmac

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa import selectors as mfa
from accounts.models import User
from accounts.roles import Role
from accounts.services import add_member
from portal.agreements import services as agreements
from portal.models import Tenant
from portal.services import create_tenant

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Clinic"
DEMO_DOMAIN = "demo-clinic.example"
OPERATOR_EMAIL = "operator@palisade.example"


def demo_password(email: str) -> str:
    """Stable per install (derived from SECRET_KEY), so re-running prints working passwords without
    storing them, and no two installs share demo credentials."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"demo-password:{email}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest).decode()[:20].lower()


def demo_totp_key(email: str) -> bytes:
    """The demo account's authenticator-app secret, derived like its password: stable per install."""
    return hmac.new(settings.SECRET_KEY.encode(), f"demo-totp:{email}".encode(), hashlib.sha256).digest()[:20]


class Command(BaseCommand):
    help = "Create the demo clinic with one user per role and a platform operator; idempotent."

    @transaction.atomic
    def handle(self, **options) -> None:
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or create_tenant(DEMO_SLUG, DEMO_NAME)
        rows = [(OPERATOR_EMAIL, "platform operator (admin)", self._operator())]
        for role in Role:
            email = f"{role.value.replace('_', '-')}@{DEMO_DOMAIN}"
            user = User.objects.filter(email=email).first()
            if user is None:
                membership, _ = add_member(email, tenant, role, password=demo_password(email))
                user = membership.user
            else:
                add_member(email, tenant, role)
            rows.append((email, role.label, user))
        admin = next(user for _, label, user in rows if label == Role.TENANT_ADMIN.label)
        self._agreements(tenant, admin)

        self.stdout.write(f"Demo clinic: {tenant.name} at /t/{tenant.slug}/\n")
        self.stdout.write(f"{'e-mail':<42} {'role':<28} password")
        for email, label, user in rows:
            password = demo_password(email)
            shown = password if user.check_password(password) else "(changed by its user)"
            self.stdout.write(f"{email:<42} {label:<28} {shown}")
        self._second_factors([user for _, _, user in rows])

    def _second_factors(self, users: list[User]) -> None:
        """Demo staff must use MFA, as the clinic's policy says: each gets an authenticator app whose
        secret is printed here, to type into an authenticator app (or `oathtool --totp -b SECRET`)."""
        self.stdout.write("\nSecond factor (authenticator app, TOTP) of the demo accounts that need one:")
        self.stdout.write(f"{'e-mail':<42} TOTP secret")
        for user in users:
            if not mfa.mfa_required(user):
                continue
            key = demo_totp_key(user.email)
            if not mfa.has_second_factor(user):
                TOTPDevice.objects.create(
                    user=user, name="Demo authenticator app", key=key.hex(), confirmed=True
                )
            ours = TOTPDevice.objects.filter(user=user, key=key.hex(), confirmed=True).exists()
            shown = base64.b32encode(key).decode() if ours else "(changed by its user)"
            self.stdout.write(f"{user.email:<42} {shown}")

    def _agreements(self, tenant: Tenant, admin: User) -> None:
        """The demo clinic has the agreements its jurisdiction requires in force, signed by its admin,
        so that it can receive studies at once; renewed on a later run once they have lapsed."""
        missing = agreements.missing_agreements(tenant)
        if missing:
            agreements.accept_current(
                tenant,
                signer=admin,
                signer_name="Demo Clinic Admin",
                signer_role="Clinic admin",
                kinds=missing,
            )

    def _operator(self) -> User:
        user = User.objects.filter(email=OPERATOR_EMAIL).first()
        if user is None:
            user = User.objects.create_superuser(OPERATOR_EMAIL, demo_password(OPERATOR_EMAIL))
        return user
