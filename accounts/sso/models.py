import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.roles import Role
from portal.models import Tenant

# RFC 8176 authentication method references that mean more than a password: "mfa" itself, a one-time
# code ("otp"), a hardware or software key ("hwk", "swk"), a smart card ("sc").
DEFAULT_MFA_AMR_VALUES = "mfa otp hwk swk sc"
_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OidcProvider(models.Model):
    """A clinic's OpenID Connect identity provider: at most one per clinic, set up by platform operators.

    Not a TenantOwned model, like SecurityPolicy: it holds no PHI and is read outside any tenant scope
    (the sign-in page lists the clinics that offer single sign-on). The client secret is stored sealed
    (accounts.sso.client_secrets): encrypted under the master key provider, never shown again.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="oidc_provider")
    enabled = models.BooleanField(default=True)
    show_on_sign_in_page = models.BooleanField(
        default=True,
        help_text="List “Sign in with <clinic> SSO” on the sign-in page. Off: the clinic's people start "
        "at /accounts/sso/<clinic>/ instead, and the page does not name the clinic.",
    )
    issuer = models.URLField(
        max_length=500,
        help_text="Exactly as the provider's /.well-known/openid-configuration states it, e.g. "
        "https://login.clinic.example/realms/staff. HTTPS (plain HTTP only on loopback).",
    )
    client_id = models.CharField(max_length=255)
    client_secret_sealed = models.BinaryField(editable=False, default=b"")
    scopes = models.CharField(max_length=255, default="openid email profile")
    email_claim = models.CharField(max_length=100, default="email")
    roles_claim = models.CharField(
        max_length=100, default="groups", help_text="The claim listing the person's groups or roles."
    )
    role_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text='Claim value → Palisade role, e.g. {"radiology": "radiologist", "it-admins": '
        '"tenant_admin"}. When several values match, the first role in the list of roles wins.',
    )
    default_role = models.CharField(
        max_length=32,
        choices=Role.choices,
        blank=True,
        help_text="Role of a person whose claims match no mapping. Empty: such a person is refused.",
    )
    email_domains = models.CharField(
        "e-mail domains",
        max_length=500,
        help_text="The domains this provider speaks for, space-separated (e.g. clinic.example): it signs "
        "in no one else. Check the clinic owns them: a provider could otherwise sign in members of other "
        "clinics.",
    )
    create_users = models.BooleanField(
        "create users on first sign-in",
        default=True,
        help_text="Off: only people who already have a Palisade account can sign in with this provider.",
    )
    mfa_delegated = models.BooleanField(
        "MFA delegated to the provider",
        default=False,
        help_text="A sign-in whose ID token shows a second factor (below) needs no Palisade second factor.",
    )
    mfa_acr_values = models.CharField(
        "acr values that mean MFA",
        max_length=500,
        blank=True,
        help_text="Space-separated; also asked for in the authorization request.",
    )
    mfa_amr_values = models.CharField(
        "amr values that mean MFA",
        max_length=255,
        blank=True,
        default=DEFAULT_MFA_AMR_VALUES,
        help_text="Space-separated (RFC 8176); any one of them in the token's amr claim is enough.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OpenID Connect provider"
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"OpenID Connect provider of {self.tenant}"

    @property
    def scope_list(self) -> list[str]:
        scopes = self.scopes.split()
        return scopes if "openid" in scopes else ["openid", *scopes]

    @property
    def email_domain_list(self) -> list[str]:
        return [domain.lstrip("@").lower() for domain in self.email_domains.split()]

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_sealed)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        parts = urlsplit(self.issuer or "")
        if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
            errors["issuer"] = "The issuer must be an https:// URL (plain http:// only on loopback)."
        if parts.query or parts.fragment:
            errors["issuer"] = "An issuer has no query or fragment (OpenID Connect Discovery 1.0, 2)."
        if not isinstance(self.role_mapping, dict) or not all(
            isinstance(key, str) and value in Role.values for key, value in self.role_mapping.items()
        ):
            errors["role_mapping"] = (
                "A JSON object of claim value → role, the role one of: " + ", ".join(Role.values) + "."
            )
        if not self.email_domain_list:
            errors["email_domains"] = "Name at least one domain."
        if self.mfa_delegated and not (self.mfa_acr_values.split() or self.mfa_amr_values.split()):
            errors["mfa_delegated"] = "Delegated MFA needs the acr or amr values that show a second factor."
        if errors:
            raise ValidationError(errors)


class OidcIdentity(models.Model):
    """A person at a clinic's provider (its `sub`), linked to the Palisade user it signs in.

    The subject identifier is the stable key (OpenID Connect Core 5.7): the e-mail links an account only
    at the first sign-in; a later change of address at the provider does not move the link elsewhere.
    """

    provider = models.ForeignKey(OidcProvider, on_delete=models.CASCADE, related_name="identities")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        verbose_name_plural = "OpenID Connect identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="one_user_per_oidc_subject"),
            models.UniqueConstraint(fields=["provider", "user"], name="one_oidc_subject_per_user"),
        ]

    def __str__(self) -> str:
        return f"OpenID Connect identity {self.pk} of user {self.user_id}"
