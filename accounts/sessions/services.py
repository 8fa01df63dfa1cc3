"""Starting, using and ending UserSession rows: the one place that decides how long a session lives.

A session lives until the first of: its idle deadline (the last recorded request plus the idle timeout),
its absolute deadline (sign-in plus the lifetime), or an explicit end (sign-out, revocation, a password or
rights change). Timeouts come from the strictest policy of the user's clinics
(accounts.security_policy.effective_policy), read again whenever activity is recorded, so a clinic's new
policy reaches open sessions within a minute.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts.models import SessionEndReason, User, UserSession
from accounts.security_policy import EffectivePolicy, effective_policy
from accounts.sessions.devices import describe_device
from audit.models import AuditAction

# Activity is written at most this often, not at every request. A session may therefore end up to
# this much before the idle timeout counted from its very last request, never after it.
ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)

# The request being served, for changes that reach us through model signals (a membership saved in
# the admin) and must know which session made them. Set by SessionControlMiddleware.
_current_request: ContextVar[HttpRequest | None] = ContextVar("palisade_session_request", default=None)


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """Marks `request` as the one being served while its view runs."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def key_digest(session_key: str) -> str:
    """SHA-256 of a session key: what UserSession keeps, and what AuditEvent.session_ref holds."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def client_address(request: HttpRequest) -> str | None:
    # REMOTE_ADDR, as the audit trail records it: the ASGI server resolves trusted proxies' headers.
    return request.META.get("REMOTE_ADDR") or None


def apply_policy(session: UserSession, policy: EffectivePolicy) -> None:
    session.expires_at = session.created_at + timedelta(hours=policy.absolute_lifetime_hours)
    session.idle_expires_at = session.last_seen_at + timedelta(minutes=policy.idle_timeout_minutes)


def activity_due(session: UserSession, now: datetime) -> bool:
    return now - session.last_seen_at >= ACTIVITY_WRITE_INTERVAL


def start_session(request: HttpRequest, user: User) -> UserSession:
    """Record a sign-in. Called once django.contrib.auth.login has given the session its new key."""
    if request.session.session_key is None:
        # login() flushed another user's session: the new one gets its key when first saved.
        request.session.save()
    now = timezone.now()
    session = UserSession(
        user=user,
        key_digest=key_digest(request.session.session_key),
        created_at=now,
        last_seen_at=now,
        ip_address=client_address(request),
        device=describe_device(request.META.get("HTTP_USER_AGENT", "")),
    )
    apply_policy(session, effective_policy(user))
    session.save()
    request.user_session = session
    return session


def record_activity(request: HttpRequest, session: UserSession, policy: EffectivePolicy) -> None:
    session.last_seen_at = timezone.now()
    session.ip_address = client_address(request)
    apply_policy(session, policy)
    session.save(update_fields=["last_seen_at", "ip_address", "idle_expires_at", "expires_at"])


def seconds_left(session: UserSession) -> dict[str, int]:
    """What the idle-warning banner needs: seconds to the idle and to the absolute deadline."""
    now = timezone.now()
    return {
        "idle_seconds": max(0, int((session.idle_expires_at - now).total_seconds())),
        "lifetime_seconds": max(0, int((session.expires_at - now).total_seconds())),
    }


def live_sessions(user: User):
    """The user's sessions that can still serve a request, most recently used first."""
    return _live_sessions_of(user.pk)


def _live_sessions_of(user_id: int):
    now = timezone.now()
    return UserSession.objects.filter(
        user_id=user_id, ended_at__isnull=True, idle_expires_at__gt=now, expires_at__gt=now
    )


def end_session(session: UserSession, reason: SessionEndReason) -> bool:
    """Mark one session ended; False if something else ended it first. Its stored session is deleted at
    its next request (SessionControlMiddleware), which then finds it ended."""
    now = timezone.now()
    ended = UserSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
        ended_at=now, ended_reason=reason
    )
    if ended:
        session.ended_at, session.ended_reason = now, reason
    return bool(ended)


def end_sessions(user_id: int, reason: SessionEndReason, *, keep: UserSession | None = None) -> list[int]:
    """End every live session of the user but `keep`; the IDs of those ended."""
    sessions = _live_sessions_of(user_id)
    if keep is not None:
        sessions = sessions.exclude(pk=keep.pk)
    ids = list(sessions.values_list("pk", flat=True))
    if not ids:
        return []
    now = timezone.now()
    UserSession.objects.filter(pk__in=ids, ended_at__isnull=True).update(ended_at=now, ended_reason=reason)
    # The session serving this request, if it was one of them, learns it at once.
    current = _current_session()
    if current is not None and current.pk in ids:
        current.ended_at, current.ended_reason = now, reason
    return ids


def revoke_session(request: HttpRequest, session_id: int) -> bool:
    """End one of the user's other sessions from the "Your sessions" page."""
    others = live_sessions(request.user)
    if request.user_session is not None:
        others = others.exclude(pk=request.user_session.pk)
    session = others.filter(pk=session_id).first()
    if session is None or not end_session(session, SessionEndReason.REVOKED):
        return False
    audit.record(
        AuditAction.SESSION_REVOKED,
        request=request,
        object_type="user_session",
        object_ids=[str(session.pk)],
        # The revoked session's own events carry this as their session_ref.
        details={"revoked_session_ref": session.key_digest},
    )
    return True


def revoke_other_sessions(request: HttpRequest) -> list[int]:
    ids = end_sessions(request.user.pk, SessionEndReason.REVOKED, keep=request.user_session)
    audit.record(
        AuditAction.SESSIONS_REVOKED_ALL,
        request=request,
        object_type="user_session",
        object_ids=[str(pk) for pk in ids],
    )
    return ids


def end_sessions_after_password_set(request: HttpRequest, user: User, reason: SessionEndReason) -> list[int]:
    """A new password ends the user's sessions. After a change made from one of the user's own sessions
    (the change page, or an operator's own password in the admin) that session stays signed in, under
    the new key Django's update_session_auth_hash gave it; after a reset every session ends."""
    current = getattr(request, "user_session", None)
    own = current is not None and current.user_id == user.pk and reason == SessionEndReason.PASSWORD_CHANGED
    ids = end_sessions(user.pk, reason, keep=current if own else None)
    _record_ended(request, user.pk, reason, ids)
    return ids


def end_sessions_after_rights_change(user_id: int, reason: SessionEndReason) -> list[int]:
    """New or lost rights end the user's sessions, so that the rights are used only after a sign-in that
    meets the new role's rules (its clinic's policy, MFA). When the change was made from one of the
    user's own sessions, that session continues under a new key instead (OWASP: renew the session ID on
    any privilege change); a disabled account keeps none."""
    request = _current_request.get()
    current = _current_session()
    own = (
        current is not None
        and current.user_id == user_id
        and current.ended_at is None
        and reason != SessionEndReason.ACCOUNT_DISABLED
    )
    ids = end_sessions(user_id, reason, keep=current if own else None)
    if own:
        current.rotate_key = True  # done by SessionControlMiddleware once the view has run
    _record_ended(request, user_id, reason, ids)
    return ids


def _current_session() -> UserSession | None:
    request = _current_request.get()
    return getattr(request, "user_session", None) if request is not None else None


def _record_ended(request: HttpRequest | None, user_id: int, reason: str, ids: list[int]) -> None:
    if ids:
        audit.record(
            AuditAction.SESSIONS_ENDED,
            request=request,
            object_type="user",
            object_ids=[str(user_id)],
            details={"reason": str(reason), "sessions": ids},
        )
