"""The "Your sessions" page, revoking sessions, and the keep-alive the idle-warning banner calls."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.security_policy import effective_policy
from accounts.sessions import services
from accounts.sessions.middleware import session_activity_exempt, session_ended_response


@login_required
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/sessions.html",
        {"sessions": services.live_sessions(request.user), "current": request.user_session},
    )


@login_required
@require_POST
def revoke_session(request: HttpRequest, session_id: int) -> HttpResponse:
    if not services.revoke_session(request, session_id):
        raise Http404("No such session of yours is open.")
    messages.success(request, "The session was ended. Whoever used it must sign in again.")
    return redirect("sessions")


@login_required
@require_POST
def revoke_other_sessions(request: HttpRequest) -> HttpResponse:
    ended = services.revoke_other_sessions(request)
    messages.success(
        request,
        f"{len(ended)} other session{'' if len(ended) == 1 else 's'} ended."
        if ended
        else "No other session was open.",
    )
    return redirect("sessions")


@session_activity_exempt
@require_http_methods(["GET", "POST"])
def keepalive(request: HttpRequest) -> JsonResponse:
    """GET: how long the session has left, without counting as activity (the banner checks whether
    another tab kept the session alive). POST: "Stay signed in", which counts as activity."""
    session = getattr(request, "user_session", None)
    if session is None:
        return session_ended_response("Not signed in.")
    if request.method == "POST":
        services.record_activity(request, session, effective_policy(request.user))
    return JsonResponse(services.seconds_left(session))
