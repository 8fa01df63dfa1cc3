from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

# Set at sign-in (accounts.signals) when the password is older than the user's clinics allow; cleared
# by a password change. Deciding once per sign-in keeps the policy queries off every request.
PASSWORD_EXPIRED_SESSION_KEY = "palisade_password_expired"  # noqa: S105 (a session key's name)

# What a user with an expired password may still reach: the change page itself, and the way out.
_ALLOWED_URL_NAMES = {"password_change", "password_change_done", "logout"}
# The second factor comes before the password change (accounts.mfa.middleware): its pages stay open.
_ALLOWED_NAMESPACES = {"mfa", "otp_webauthn"}
# Machine clients get an answer they can read instead of a redirect to a page.
_API_PREFIXES = ("/api/", "/dicomweb/")


class PasswordExpiryMiddleware:
    """Sends a signed-in user whose password has expired to the password-change page before anything
    else (the clinic's SecurityPolicy.password_max_age_days)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and request.session.get(PASSWORD_EXPIRED_SESSION_KEY)
            and not _allowed(request.path_info)
        ):
            if request.path_info.startswith(_API_PREFIXES):
                return JsonResponse(
                    {"detail": "The password has expired; change it at /accounts/password_change/."},
                    status=403,
                )
            return redirect(reverse("password_change"))
        return self.get_response(request)


def _allowed(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.url_name in _ALLOWED_URL_NAMES or match.namespace in _ALLOWED_NAMESPACES
