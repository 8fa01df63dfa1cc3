from django.conf import settings
from django.http import HttpRequest

from accounts.sessions import services


def session_expiry(request: HttpRequest) -> dict:
    """What the idle-warning banner (templates/accounts/session_warning.html) needs on every page."""
    session = getattr(request, "user_session", None)
    if session is None or session.ended_at is not None:
        return {}
    return {
        "session_expiry": {
            **services.seconds_left(session),
            "warning_seconds": settings.PALISADE_SESSION_WARNING_SECONDS,
        }
    }
