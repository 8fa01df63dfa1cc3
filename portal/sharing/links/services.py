"""Share links: capability tokens for someone without an account (issue 6, THREATS.md "Access").

The token is 256 bits from `secrets`; only its SHA-256 is kept, so a copy of the database opens nothing.
Whoever holds it (and the PIN or e-mailed code, when the sharer set one) opens the link once, which swaps
the token for a session (visits.py): from then on the token is no longer in any URL, and every
request of that session is a `LinkVisitor`, whose rights accounts.policy reads afresh from the link's row.

Views call these functions (and those of codes.py and visits.py); they hold every rule, the views none.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts.models import User
from accounts.policy import LinkVisitor
from accounts.sessions.services import client_address
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import Study
from portal.clinic_admin.selectors import sharing_policy_of
from portal.sharing.models import ShareLink, ShareLinkUse
from portal.tenancy import all_tenants_scope

# secrets.token_urlsafe(32): 256 bits, above the 128 the issue asks for, 43 URL-safe characters.
TOKEN_BYTES = 32
# The longest a sharer may let a link live: a link is a bearer capability, so it must end on its own.
MAX_LIFETIME = timedelta(days=30)
# The fifth wrong PIN or code in a row locks the link for good (issue 6 acceptance).
MAX_FAILED_ATTEMPTS = 5
# Guesses from one address (unknown tokens, wrong PINs and codes, on any link) allowed per window before
# every opening from that address answers 429 (THREATS.md: "guesses throttled (429)").
GUESSES_PER_ADDRESS = 20
GUESS_WINDOW = timedelta(minutes=15)
# actor_role of the audit events a link visitor causes; the session_ref of those events matches the
# SHARE_LINK_OPENED event, which names the link.
VISITOR_ACTOR_ROLE = "share_link_visitor"


class LinkState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    LOCKED = "locked"
    # Opened as many times as allowed: no new opening, though sessions that opened it go on.
    USED_UP = "used_up"


class Protection(StrEnum):
    NONE = "none"
    PIN = "pin"
    EMAIL_CODE = "email_code"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def protection_of(link: ShareLink) -> Protection:
    if link.requires_email_code:
        return Protection.EMAIL_CODE
    return Protection.PIN if link.pin_hash else Protection.NONE


def link_state(link: ShareLink, now: datetime | None = None) -> LinkState:
    """The state of `link` for a new opening. Revocation first: a revoked link answers as a missing one."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    if link.locked_at is not None:
        return LinkState.LOCKED
    if link.use_limit is not None and link.use_count >= link.use_limit:
        return LinkState.USED_UP
    return LinkState.ACTIVE


# --- Making and ending links ----------------------------------------------------------------------------


def create_link(
    *,
    study: Study,
    created_by: User,
    request: HttpRequest,
    actor_role: str,
    expires_in: timedelta,
    label: str = "",
    pin: str = "",
    recipient_email: str = "",
    allow_download: bool = False,
    use_limit: int | None = None,
) -> tuple[ShareLink, str]:
    """A link to `study`; returns it with its token, which exists nowhere else: show it once.

    The caller has checked SHARE_STUDY (and DOWNLOAD_STUDY when allowing downloads) with the policy."""
    if not timedelta(0) < expires_in <= MAX_LIFETIME:
        raise ValueError(f"A share link lives between a minute and {MAX_LIFETIME.days} days.")
    _check_clinic_limits(study, expires_in, allow_download=allow_download)
    if pin and recipient_email:
        raise ValueError("A share link asks for a PIN or an e-mailed code, not both.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        link = ShareLink.objects.create(
            tenant=study.tenant,
            token_hash=token_digest(token),
            created_by=created_by,
            label=label,
            recipient_email=recipient_email,
            requires_email_code=bool(recipient_email),
            pin_hash=make_password(pin) if pin else "",
            allow_download=allow_download,
            use_limit=use_limit,
            created_at=now,
            expires_at=now + expires_in,
        )
        link.studies.set([study])
    audit.record(
        AuditAction.SHARE_LINK_CREATED,
        request=request,
        actor_role=actor_role,
        object_type="share_link",
        object_ids=[str(link.pk), study.study_instance_uid],
        details={
            "expires_at": link.expires_at.isoformat(),
            "protection": protection_of(link).value,
            "allow_download": allow_download,
            "use_limit": use_limit,
        },
    )
    return link, token


class LinkRefused(ValueError):
    """A link the clinic's sharing policy does not allow, with the reason to show to the sharer."""


def _check_clinic_limits(study: Study, expires_in: timedelta, *, allow_download: bool) -> None:
    # The clinic's own limits (portal.clinic_admin), within the platform's MAX_LIFETIME.
    limits = sharing_policy_of(study.tenant)
    if expires_in > timedelta(days=limits.link_max_days):
        raise LinkRefused(
            f"This clinic allows share links of at most {limits.link_max_days} "
            f"day{'s' if limits.link_max_days != 1 else ''}: choose a shorter time."
        )
    if allow_download and not limits.links_may_allow_download:
        raise LinkRefused("This clinic does not allow share links that let the visitor download the images.")


def revoke_link(link: ShareLink, *, by: User, request: HttpRequest, actor_role: str) -> bool:
    """End `link` now; False if it was already revoked. The policy reads revoked_at on every request,
    so a visitor who opened it is refused from their next request on."""
    now = timezone.now()
    if not ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=by
    ):
        return False
    link.revoked_at, link.revoked_by = now, by
    audit.record(
        AuditAction.SHARE_LINK_REVOKED,
        request=request,
        tenant=link.tenant,
        actor_role=actor_role,
        object_type="share_link",
        object_ids=[str(link.pk)],
    )
    return True


# --- Opening a link -------------------------------------------------------------------------------------


def find_link(token: str) -> ShareLink | None:
    """The link of `token`, of any clinic: the token is all a visitor brings, and it names the clinic.

    The one read of share links outside a tenant scope; what follows runs in the link's clinic's scope."""
    if not token or len(token) > 128:
        return None
    with all_tenants_scope():
        return (
            ShareLink.objects.select_related("tenant")
            .filter(token_hash=token_digest(token), tenant__is_active=True)
            .first()
        )


def guesses_exhausted(address: str | None, now: datetime | None = None) -> bool:
    """Whether `address` made GUESSES_PER_ADDRESS wrong guesses within GUESS_WINDOW.

    Counted from the audit trail, which records every wrong guess with its source address anyway: the
    count is shared by all web processes and survives restarts, with no second store to keep. django-axes
    is not used because it counts sign-in names (accounts/lockout.py): link guesses would mix with
    sign-in failures and lock people out of signing in. The per-link lock (MAX_FAILED_ATTEMPTS) is the
    main defence against PIN guessing; this bounds guessing tokens and spreading guesses over links."""
    if address is None:
        return False
    since = (now or timezone.now()) - GUESS_WINDOW
    guesses = AuditEvent.objects.filter(
        Q(action=AuditAction.SHARE_LINK_FAILED)
        | Q(action=AuditAction.ACCESS_DENIED, details__reason="unknown"),
        occurred_at__gte=since,
        object_type="share_link",
        source_address=address,
    )
    return guesses.count() >= GUESSES_PER_ADDRESS


@dataclass(frozen=True)
class OpenOutcome:
    opened: bool
    state: LinkState
    # Set when the answer given was wrong (counted); attempts_left is 0 once that locked the link.
    wrong_answer: bool = False
    attempts_left: int = MAX_FAILED_ATTEMPTS
    # No live e-mailed code to compare with (never sent, expired or already used): not counted.
    no_live_code: bool = False


def open_link(link: ShareLink, answer: str, *, request: HttpRequest) -> OpenOutcome:
    """Check `answer` (the PIN or e-mailed code; ignored when the link asks for neither) and, when right,
    count the opening and record its use. Call in the link's tenant scope.

    The row is locked for the decision, so that concurrent openings neither exceed the use limit nor
    lose a failed attempt."""
    now = timezone.now()
    with transaction.atomic():
        locked = ShareLink.objects.select_for_update().get(pk=link.pk)
        state = link_state(locked, now)
        if state != LinkState.ACTIVE:
            return OpenOutcome(opened=False, state=state)
        protection = protection_of(locked)
        if protection == Protection.EMAIL_CODE and not (
            locked.email_code_hash and locked.email_code_expires_at and locked.email_code_expires_at > now
        ):
            return OpenOutcome(opened=False, state=state, no_live_code=True)
        secret_hash = {Protection.PIN: locked.pin_hash, Protection.EMAIL_CODE: locked.email_code_hash}
        if protection != Protection.NONE and not check_password(answer, secret_hash[protection]):
            outcome = _count_failure(locked, now)
        else:
            outcome = None
            ShareLink.objects.filter(pk=locked.pk).update(
                use_count=F("use_count") + 1,
                # "In a row": a right answer forgives earlier slips.
                failed_attempts=0,
                # The e-mailed code opens once.
                email_code_hash="",
                email_code_expires_at=None,
            )
            ShareLinkUse.objects.create(
                tenant_id=locked.tenant_id,
                link=locked,
                used_at=now,
                source_address=client_address(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:256],
            )
    link.refresh_from_db()
    if outcome is not None:
        audit.record(
            AuditAction.SHARE_LINK_FAILED,
            request=request,
            tenant=link.tenant,
            outcome=Outcome.FAILURE,
            object_type="share_link",
            object_ids=[str(link.pk)],
            details={
                "reason": f"wrong_{protection.value}",
                "failed_attempts": link.failed_attempts,
                "locked": outcome.state == LinkState.LOCKED,
            },
        )
        return outcome
    return OpenOutcome(opened=True, state=link_state(link, now))


def _count_failure(link: ShareLink, now: datetime) -> OpenOutcome:
    ShareLink.objects.filter(pk=link.pk).update(failed_attempts=F("failed_attempts") + 1)
    link.refresh_from_db(fields=["failed_attempts"])
    if link.failed_attempts >= MAX_FAILED_ATTEMPTS:
        ShareLink.objects.filter(pk=link.pk).update(locked_at=now)
        return OpenOutcome(opened=False, state=LinkState.LOCKED, wrong_answer=True, attempts_left=0)
    return OpenOutcome(
        opened=False,
        state=LinkState.ACTIVE,
        wrong_answer=True,
        attempts_left=MAX_FAILED_ATTEMPTS - link.failed_attempts,
    )


def record_opening(request: HttpRequest, link: ShareLink) -> None:
    audit.record(
        AuditAction.SHARE_LINK_OPENED,
        request=request,
        tenant=link.tenant,
        actor_role=VISITOR_ACTOR_ROLE,
        object_type="share_link",
        object_ids=[str(link.pk)],
        details={"use_count": link.use_count, "use_limit": link.use_limit},
    )


def record_refusal(request: HttpRequest, link: ShareLink | None, reason: str) -> None:
    """ACCESS_DENIED for a share link page that refuses; `reason` is a LinkState value, "unknown" (no such
    token) or "throttled"."""
    audit.record(
        AuditAction.ACCESS_DENIED,
        request=request,
        tenant=link.tenant if link is not None else None,
        actor_role=VISITOR_ACTOR_ROLE if isinstance(request.user, LinkVisitor) else "",
        outcome=Outcome.FAILURE,
        object_type="share_link",
        object_ids=[str(link.pk)] if link is not None else [],
        details={"reason": reason, "route": request.resolver_match.url_name, "method": request.method},
    )
