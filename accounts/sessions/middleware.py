"""Enforces session control at every request of a signed-in browser session (accounts.sessions.services).

Placed after Django's authentication and messages middleware. A session that has ended (timed out,
revoked, password or rights changed) is deleted from the session store there and then and the request
goes on as anonymous: a page sends the visitor to sign in, with a message saying why; the REST API,
DICOMweb and the keep-alive answer 401. Requests with `Authorization: Bearer` are API-token requests, not
sessions: they go on and are authenticated by their token.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

import audit
from accounts.models import SessionEndReason, UserSession
from accounts.security_policy import effective_policy
from accounts.sessions import services
from audit.models import AuditAction

# Machine clients get 401 instead of a page; the banner's script asks for JSON.
_API_PREFIXES = ("/api/", "/dicomweb/")


def session_activity_exempt(view):
    """A request to this view does not count as activity (the banner asking how long is left)."""
    view.session_activity_exempt = True
    return view


def session_ended_response(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=401)
    # RFC 9110 11.6.1: a 401 names a scheme; the API's other one is Bearer (accounts.authentication).
    response["WWW-Authenticate"] = 'Bearer realm="palisade"'
    return response


def ended_message(reason: str, session: UserSession | None) -> str:
    if reason == SessionEndReason.IDLE and session is not None:
        minutes = round((session.idle_expires_at - session.last_seen_at).total_seconds() / 60)
        idle = _count(minutes, "minute")
        return f"You were signed out after {idle} without activity. Sign in again to continue."
    if reason == SessionEndReason.LIFETIME and session is not None:
        hours = round((session.expires_at - session.created_at).total_seconds() / 3600)
        return (
            f"Your session reached its maximum length of {_count(hours, 'hour')}. Sign in again to continue."
        )
    return {
        SessionEndReason.REVOKED: "This session was ended from another of your sessions. "
        "Sign in again to continue.",
        SessionEndReason.ENDED_BY_OPERATOR: "This session was ended by a platform operator.",
        SessionEndReason.PASSWORD_CHANGED: "Your password was changed, so this session was ended. "
        "Sign in with the new password.",
        SessionEndReason.PASSWORD_RESET: "Your password was reset, so this session was ended. "
        "Sign in with the new password.",
        SessionEndReason.PRIVILEGE_CHANGED: "Your access rights changed. Sign in again to continue.",
        SessionEndReason.ACCOUNT_DISABLED: "This account is disabled.",
    }.get(reason, "Your session has ended. Sign in again to continue.")


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


class SessionControlMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user_session = None
        if not request.user.is_authenticated:
            return self._explain_lost_session(request) or self.get_response(request)

        session = UserSession.objects.filter(
            key_digest=services.key_digest(request.session.session_key)
        ).first()
        if session is None or session.user_id != request.user.pk:
            # Not a session we started (one from before session control, say): fail closed.
            return self._end(request, None, "") or self.get_response(request)
        now = timezone.now()
        policy = None
        if session.ended_at is None and services.activity_due(session, now):
            # Read the clinics' policy again before deciding, so that a shortened timeout applies.
            policy = effective_policy(request.user)
            services.apply_policy(session, policy)
        reason = session.end_reason_at(now)
        if reason is not None:
            if session.ended_at is None and services.end_session(session, reason):
                audit.record(
                    AuditAction.SESSION_EXPIRED,
                    request=request,
                    object_type="user_session",
                    object_ids=[str(session.pk)],
                    details={"reason": str(reason)},
                )
            return self._end(request, session, reason) or self.get_response(request)

        request.user_session = session
        request._session_policy = policy
        with services.serving(request):
            response = self.get_response(request)
        self._follow_key(request, session)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        session = request.user_session
        policy = getattr(request, "_session_policy", None)
        if session is None or policy is None or session.ended_at is not None:
            return
        if not getattr(view_func, "session_activity_exempt", False):
            services.record_activity(request, session, policy)

    def _end(self, request: HttpRequest, session: UserSession | None, reason: str) -> HttpResponse | None:
        """Delete the stored session, go on as anonymous; a page request goes on to its view (which sends
        the visitor to sign in), a machine client's gets 401."""
        request.session.flush()
        request.user = AnonymousUser()
        return self._answer(request, ended_message(reason, session))

    def _explain_lost_session(self, request: HttpRequest) -> HttpResponse | None:
        """Django itself deletes the other sessions after a password change (the session auth hash); the
        cookie of such a session still names it, and says why."""
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if not cookie or request.session.session_key is not None:
            return None
        session = (
            UserSession.objects.filter(key_digest=services.key_digest(cookie), ended_at__isnull=False)
            .exclude(ended_reason=SessionEndReason.SIGNED_OUT)
            .first()
        )
        if session is None:
            return None
        return self._answer(request, ended_message(session.ended_reason, session))

    def _answer(self, request: HttpRequest, message: str) -> HttpResponse | None:
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return None
        messages.info(request, message, fail_silently=True)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if request.path_info.startswith(_API_PREFIXES) or wants_json:
            return session_ended_response(message)
        return None

    def _follow_key(self, request: HttpRequest, session: UserSession) -> None:
        """Keep the row on its session when the key changed during the request (a password change, or a
        rights change made from this session)."""
        if (
            session.ended_at is not None
            or not request.user.is_authenticated
            or request.user.pk != session.user_id
        ):
            return  # signed out, or signed in as someone else: accounts.sessions.signals saw to it
        if getattr(session, "rotate_key", False):
            request.session.cycle_key()
        key = request.session.session_key
        if key and services.key_digest(key) != session.key_digest:
            session.key_digest = services.key_digest(key)
            session.save(update_fields=["key_digest"])
