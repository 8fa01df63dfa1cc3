import hashlib
from collections.abc import Iterable

from django.db import connections, router
from django.http import HttpRequest

from audit.chain import append, append_all
from audit.journal import queue
from audit.models import AuditAction, AuditEvent, Outcome


def _source_address(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: the ASGI server already resolves X-Forwarded-For from trusted proxies.
    return request.META.get("REMOTE_ADDR") or None


def _session_ref(request: HttpRequest) -> str:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


# Set on a request whose refusal is already in the trail, so that audit.middleware does not add a
# second, vaguer event for the same refusal.
DENIAL_RECORDED = "_palisade_denial_recorded"
# Set by accounts.authentication on a request refused for the API token it carried (a token of another
# clinic): the request has no user, yet whoever records the refusal names the token and its holder.
REFUSED_BEARER = "_palisade_refused_bearer"


def record(action: AuditAction, **kwargs) -> AuditEvent:
    """Write one audit event (see `event` for the arguments) as the newest link of its chain."""
    written = append(event(action, **kwargs))
    request = kwargs.get("request")
    if action == AuditAction.ACCESS_DENIED and request is not None:
        # A REST framework request wraps Django's; the middleware sees Django's.
        setattr(getattr(request, "_request", request), DENIAL_RECORDED, True)
    return written


def record_access(action: AuditAction, **kwargs) -> None:
    """Write the event of a read (a search, a retrieval; see `event` for the arguments) without making
    the read wait for the database: in a web process with an audit journal (audit.journal) the event is
    on disk when this returns and in its chain a moment later. Inside a transaction, or without a
    journal, it is written as `record` writes it."""
    built = event(action, **kwargs)
    if connections[router.db_for_write(AuditEvent)].in_atomic_block or not queue(built):
        append(built)


def record_all(events: list[AuditEvent]) -> list[AuditEvent]:
    """Write events built by `event`, all of one tenant, in order, under one lock of their chain."""
    return append_all(events)


def event(
    action: AuditAction,
    *,
    request: HttpRequest | None = None,
    actor=None,
    tenant=None,
    actor_role: str = "",
    outcome: Outcome = Outcome.SUCCESS,
    object_type: str = "",
    object_ids: Iterable[str] = (),
    details: dict | None = None,
    source_address: str | None = None,
) -> AuditEvent:
    """An audit event, not yet written. Identifiers only: never pass names, birth dates or free text
    of a patient.

    `source_address` is for events without an HTTP request (a DIMSE peer's IP address)."""
    if request is not None:
        refused_token = getattr(request, REFUSED_BEARER, None)
        if refused_token is not None:
            actor = actor or refused_token.user
            details = {**(details or {}), "token": refused_token.prefix}
        if actor is None and getattr(request, "user", None) is not None and request.user.is_authenticated:
            actor = request.user
        if tenant is None:
            tenant = getattr(request, "tenant", None)
        link = getattr(getattr(request, "user", None), "share_link", None)
        if link is not None:
            # Whoever holds a share link (accounts.policy.LinkVisitor) has no account: the link is who
            # they are, on every event of their requests (the patient's access history and the alert
            # rules read it there).
            details = {"share_link": str(link.pk), **(details or {})}
            actor_role = actor_role or "share_link_visitor"
    return AuditEvent(
        action=action,
        outcome=outcome,
        tenant=tenant,
        actor=actor,
        actor_role=actor_role,
        object_type=object_type,
        object_ids=list(object_ids),
        source_address=_source_address(request) if request is not None else source_address,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:256] if request is not None else "",
        session_ref=_session_ref(request) if request is not None else "",
        details=details or {},
    )
