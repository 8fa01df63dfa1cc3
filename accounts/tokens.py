"""API tokens: issue, look up, revoke. The plaintext exists only in the caller's hands.

A token is `pal_` followed by 32 random bytes (256 bits, URL-safe base64). The database keeps its
SHA-256: a stolen table row cannot be replayed, and a slow hash is not needed for a secret with this
much entropy. Lookup goes by the displayable prefix, then compares digests in constant time.

The API tokens page (accounts/api_tokens), `create_api_token`, the clinic admins' page and the platform
admin all go through these functions, which write the audit events.
"""

import datetime
import hashlib
import hmac
import secrets

from django.db import transaction
from django.db.models import F, FilteredRelation, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts import policy
from accounts.models import ApiToken, Membership, TokenScope, User
from audit.models import AuditAction
from portal.compiled_query import TEXT, CompiledQuery, columns, instances
from portal.models import Tenant

TOKEN_PREFIX = "pal_"  # noqa: S105 (a marker, not a secret)
DEFAULT_LIFETIME_DAYS = 90
# A token is a password that never asks for a second factor: it must end. A year covers yearly scripts.
MAX_LIFETIME_DAYS = 365
# "pal_" and 8 random characters: enough to tell tokens apart in a list, far too little to guess one.
_DISPLAY_PREFIX_LENGTH = 12
# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
_LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


class TokenRefused(ValueError):
    """The token cannot be issued (for example, the user is not a member of the clinic)."""


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def issue_token(
    user: User,
    tenant: Tenant,
    *,
    scopes: list[TokenScope] | None = None,
    expires_in_days: int = DEFAULT_LIFETIME_DAYS,
    name: str = "",
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user` in `tenant`, with `scopes` (by default every scope the member's role
    allows). `request` is the page's, when the user makes their own token; without it an operator
    issued it (`create_api_token`). Returns the row and the plaintext, which is shown once."""
    grantable = policy.grantable_token_scopes(user, tenant)
    if not grantable:
        raise TokenRefused(f"{user.email} is not a member of {tenant.slug}.")
    chosen = sorted({TokenScope(scope) for scope in scopes} if scopes else grantable)
    beyond_role = [scope for scope in chosen if scope not in grantable]
    if beyond_role:
        role = policy.membership(user, tenant).get_role_display()
        raise TokenRefused(
            f"A {role.lower()} of {tenant.slug} may not give a token the scope {', '.join(beyond_role)}."
        )
    if not 1 <= expires_in_days <= MAX_LIFETIME_DAYS:
        raise TokenRefused(f"A token must live at least one day and at most {MAX_LIFETIME_DAYS} days.")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        tenant=tenant,
        name=name[:100],
        prefix=plaintext[:_DISPLAY_PREFIX_LENGTH],
        token_hash=_digest(plaintext),
        scopes=[scope.value for scope in chosen],
        expires_at=timezone.now() + datetime.timedelta(days=expires_in_days),
        created_by=request.user if request is not None else None,
    )
    audit.record(
        AuditAction.API_TOKEN_ISSUED,
        request=request,
        actor=user,
        tenant=tenant,
        actor_role=policy.membership(user, tenant).role,
        object_type="api_token",
        object_ids=[str(token.pk)],
        details={
            "scopes": token.scopes,
            "expires_at": token.expires_at.isoformat(),
            "by": "self" if request is not None else "command",
        },
    )
    return token, plaintext


def find_token(plaintext: str) -> ApiToken | None:
    """The token row whose digest matches `plaintext`, usable or not; None for an unknown token."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(plaintext)
    for row in _CANDIDATES.rows(plaintext[:_DISPLAY_PREFIX_LENGTH]):
        candidate, user, tenant, membership = instances(row, ApiToken, User, Tenant, Membership)
        if hmac.compare_digest(candidate.token_hash, digest):
            candidate.user, candidate.tenant = user, tenant
            if membership is not None:
                membership.user, membership.tenant = user, tenant
            policy.remember_membership(user, tenant, membership)
            return candidate
    return None


def _candidates(prefix: str) -> QuerySet:
    # The holder and the clinic come in the same query, and so does the holder's membership of the
    # clinic: every request with a token asks the policy for it.
    return (
        ApiToken.objects.filter(prefix=prefix)
        .annotate(
            holder_membership=FilteredRelation(
                "user__memberships", condition=Q(user__memberships__tenant=F("tenant"))
            )
        )
        .values_list(
            *columns(ApiToken),
            *columns(User, "user"),
            *columns(Tenant, "tenant"),
            *columns(Membership, "holder_membership"),
        )
    )


# Asked on every request that carries a token: compiled once (portal/compiled_query.py).
_CANDIDATES = CompiledQuery(_candidates, TEXT)


def authenticate_token(plaintext: str, *, address: str | None = None) -> ApiToken | None:
    """The token if it exists, is neither revoked nor expired, its user and clinic are active and the
    user is still a member of the clinic. Records the use (time and `address`) at most once a minute."""
    token = find_token(plaintext)
    now = timezone.now()
    if token is None or not token.is_usable_at(now):
        return None
    if not token.user.is_active or not token.tenant.is_active:
        return None
    # A token lives no longer than the membership it was issued under. (The lookup is remembered on the
    # user, which is request.user from here on: the access decisions of this request reuse it.)
    if policy.membership(token.user, token.tenant) is None:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_address=address)
        token.last_used_at, token.last_used_address = now, address
    return token


def revoke_token(
    token: ApiToken, *, request: HttpRequest | None = None, actor_role: str = "", by: str = "operator"
) -> bool:
    """Stop the token from the next request on, and audit it. `by` says who: `self`, `clinic_admin`,
    `platform_admin` (or `operator` for a script). False if it was already revoked."""
    now = timezone.now()
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        return False
    token.revoked_at = now
    audit.record(
        AuditAction.API_TOKEN_REVOKED,
        request=request,
        tenant=token.tenant,
        actor_role=actor_role,
        object_type="api_token",
        object_ids=[str(token.pk)],
        details={"by": by, "user": str(token.user_id)},
    )
    return True


def tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, every state, newest first: what the API tokens page lists."""
    return ApiToken.objects.filter(user=user).select_related("tenant")


def tokens_of_clinic(tenant: Tenant) -> QuerySet[ApiToken]:
    """Every member's tokens of `tenant`, newest first: what its clinic admins see."""
    return ApiToken.objects.filter(tenant=tenant).select_related("user")
