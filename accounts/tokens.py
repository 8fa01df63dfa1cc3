"""API tokens: issue, look up, revoke. The plaintext exists only in the caller's hands.

A token is `pal_` followed by 32 random bytes (256 bits, URL-safe base64). The database keeps its
SHA-256: a stolen table row cannot be replayed, and a slow hash is not needed for a secret with this
much entropy. Lookup goes by the displayable prefix, then compares digests in constant time.
"""

import datetime
import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

import audit
from accounts.models import ApiToken, Membership, TokenScope, User
from audit.models import AuditAction
from portal.models import Tenant

TOKEN_PREFIX = "pal_"  # noqa: S105 (a marker, not a secret)
DEFAULT_LIFETIME_DAYS = 90
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
) -> tuple[ApiToken, str]:
    """Create a token for `user` in `tenant`. Returns the row and the plaintext, shown once."""
    if not Membership.objects.filter(user=user, tenant=tenant).exists():
        raise TokenRefused(f"{user.email} is not a member of {tenant.slug}.")
    if expires_in_days < 1:
        raise TokenRefused("A token must live at least one day.")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        tenant=tenant,
        name=name[:100],
        prefix=plaintext[:_DISPLAY_PREFIX_LENGTH],
        token_hash=_digest(plaintext),
        scopes=sorted({TokenScope(scope).value for scope in (scopes or TokenScope.values)}),
        expires_at=timezone.now() + datetime.timedelta(days=expires_in_days),
    )
    audit.record(
        AuditAction.API_TOKEN_ISSUED,
        actor=user,
        tenant=tenant,
        object_type="api_token",
        object_ids=[str(token.pk)],
        details={"scopes": token.scopes, "expires_at": token.expires_at.isoformat()},
    )
    return token, plaintext


def find_token(plaintext: str) -> ApiToken | None:
    """The token row whose digest matches `plaintext`, usable or not; None for an unknown token."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(plaintext)
    candidates = ApiToken.objects.select_related("user", "tenant").filter(
        prefix=plaintext[:_DISPLAY_PREFIX_LENGTH]
    )
    for candidate in candidates:
        if hmac.compare_digest(candidate.token_hash, digest):
            return candidate
    return None


def authenticate_token(plaintext: str) -> ApiToken | None:
    """The token if it exists, is neither revoked nor expired, and its user and clinic are active."""
    token = find_token(plaintext)
    now = timezone.now()
    if token is None or not token.is_usable_at(now):
        return None
    if not token.user.is_active or not token.tenant.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke_token(token: ApiToken) -> None:
    """Stop the token from the next request on."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
