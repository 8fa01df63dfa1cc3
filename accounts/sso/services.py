"""From a verified ID token to a signed-in session: the user, their role in the clinic, the second factor.

Every refusal is a SignInRefused with a reason code (audited as sign_in_failed) and a sentence for the
person. Nothing here touches a membership in another clinic.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts.lockout import sign_in_name_digest
from accounts.middleware import PASSWORD_EXPIRED_SESSION_KEY
from accounts.models import Membership, SecurityPolicy, User
from accounts.roles import Role
from accounts.sso import sessions
from accounts.sso.models import OidcIdentity, OidcProvider
from audit.models import AuditAction, Outcome

# The session's user is reloaded through this backend; it is in AUTHENTICATION_BACKENDS, and its
# get_user() refuses inactive users like every other sign-in. The ID token was checked before login().
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


class SignInRefused(Exception):
    def __init__(self, reason: str, message: str, *, email: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.email = email


@dataclass(frozen=True)
class SsoSignIn:
    user: User
    role: Role
    mfa_by_provider: bool


def _claim_values(claims: dict[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def mapped_role(provider: OidcProvider, claims: dict[str, Any]) -> Role | None:
    """The role the claims give in the provider's clinic: the first role, in the order of Role, that a
    value of the roles claim maps to; else the default role; else None (refused)."""
    mapping = provider.role_mapping or {}
    matched = {mapping[value] for value in _claim_values(claims, provider.roles_claim) if value in mapping}
    for role in Role:
        if role.value in matched:
            return role
    return Role(provider.default_role) if provider.default_role else None


def mfa_shown_by_token(provider: OidcProvider, claims: dict[str, Any]) -> bool:
    """The ID token's acr or amr shows one of the second factors the clinic accepts from its provider."""
    acr = claims.get("acr")
    if isinstance(acr, str) and acr in provider.mfa_acr_values.split():
        return True
    return bool(set(_claim_values(claims, "amr")) & set(provider.mfa_amr_values.split()))


def other_clinics_require_own_mfa(user: User, tenant_id: int) -> bool:
    """Whether another active clinic of the user requires a second factor of their role there: that
    clinic has not agreed to trust this provider's MFA, so Palisade's own second factor is still due."""
    others = Membership.objects.filter(user=user, tenant__is_active=True).exclude(tenant_id=tenant_id)
    for membership in others.only("tenant_id", "role"):
        policy = SecurityPolicy.objects.filter(tenant_id=membership.tenant_id).first() or SecurityPolicy()
        if membership.role in policy.mfa_required_roles:
            return True
    return False


def _verified_email(provider: OidcProvider, claims: dict[str, Any]) -> str:
    email = claims.get(provider.email_claim)
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused("no_email", "Your identity provider did not send an e-mail address.")
    email = email.strip().lower()
    # OpenID Connect Core 5.1: only a verified address proves who the person is.
    if claims.get("email_verified") is not True:
        raise SignInRefused(
            "email_not_verified", "Your identity provider has not verified your e-mail address.", email=email
        )
    if email.rsplit("@", 1)[1] not in provider.email_domain_list:
        raise SignInRefused(
            "email_domain_not_allowed",
            f"{provider.tenant.name}'s sign-in does not cover this e-mail address.",
            email=email,
        )
    return email


def _user_for(provider: OidcProvider, claims: dict[str, Any], email: str) -> User:
    """The user this subject signs in: the one already linked, else the account with the verified
    e-mail (linked now), else a new account when the clinic allows it."""
    subject = claims["sub"]
    identity = OidcIdentity.objects.select_related("user").filter(provider=provider, subject=subject).first()
    if identity is not None:
        user = identity.user
    else:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            if not provider.create_users:
                raise SignInRefused(
                    "no_account", "You have no Palisade account yet: ask your clinic's admin.", email=email
                )
            user = User.objects.create_user(email)  # no password: this person signs in with the provider
        elif OidcIdentity.objects.filter(provider=provider, user=user).exists():
            raise SignInRefused(
                "linked_to_other_subject",
                "This account is linked to another identity at your clinic's provider.",
                email=email,
            )
        identity = OidcIdentity.objects.create(provider=provider, subject=subject, user=user)
    if user.is_staff or user.is_superuser:
        # Platform operators hold the keys to every clinic; no clinic's provider speaks for them.
        raise SignInRefused(
            "platform_operator", "Platform operators sign in with their password.", email=email
        )
    if not user.is_active:
        raise SignInRefused("account_disabled", "This account is disabled.", email=email)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    return user


@transaction.atomic
def resolve_sign_in(provider: OidcProvider, claims: dict[str, Any]) -> SsoSignIn:
    """The user and role a verified ID token gives in the provider's clinic, the membership written."""
    email = _verified_email(provider, claims)
    role = mapped_role(provider, claims)
    if role is None:
        raise SignInRefused(
            "no_role",
            f"Your account at {provider.tenant.name}'s identity provider has no role in Palisade. "
            "Ask your clinic's admin to give you one.",
            email=email,
        )
    user = _user_for(provider, claims, email)
    # Only this clinic's membership: a change of role here ends the user's other sessions
    # (accounts.sessions.signals), before this one is opened.
    membership = Membership.objects.filter(user=user, tenant=provider.tenant).first()
    if membership is None:
        Membership.objects.create(user=user, tenant=provider.tenant, role=role)
    elif membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    mfa_by_provider = (
        provider.mfa_delegated
        and mfa_shown_by_token(provider, claims)
        and not other_clinics_require_own_mfa(user, provider.tenant_id)
    )
    return SsoSignIn(user=user, role=role, mfa_by_provider=mfa_by_provider)


def sign_in(request: HttpRequest, provider: OidcProvider, claims: dict[str, Any]) -> SsoSignIn:
    """Open the session through Django's login(): a new session key, and the same signals as a password
    sign-in (the audit trail's sign_in event, session control, the second-factor reset)."""
    result = resolve_sign_in(provider, claims)
    details = {"method": "oidc", "issuer": provider.issuer, "role": result.role.value}
    if result.mfa_by_provider:
        details["mfa"] = "identity_provider"
    # Read by the audit trail's sign-in receiver (audit.signals).
    request.sign_in_details = details
    login(request, result.user, backend=SESSION_BACKEND)
    # No password was used: its expiry is for the next password sign-in, not for this one.
    request.session.pop(PASSWORD_EXPIRED_SESSION_KEY, None)
    if result.mfa_by_provider:
        sessions.mark_mfa_by_provider(request, provider, claims)
        audit.record(
            AuditAction.MFA_VERIFIED,
            request=request,
            object_type="user",
            object_ids=[str(result.user.pk)],
            details={"kind": "identity_provider", "issuer": provider.issuer},
        )
    return result


def record_refusal(request: HttpRequest, provider: OidcProvider, reason: str, email: str = "") -> None:
    details = {"method": "oidc", "issuer": provider.issuer, "reason": reason}
    if email:
        # The keyed digest the password sign-in records too: never the address itself.
        details["attempted_name_hmac"] = sign_in_name_digest(email)
    audit.record(
        AuditAction.SIGN_IN_FAILED,
        request=request,
        tenant=provider.tenant,
        outcome=Outcome.FAILURE,
        details=details,
    )
