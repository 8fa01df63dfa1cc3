"""Until a signed-in user has passed their second factor, the password alone reaches nothing but the
second-factor step (or, for a user who must use MFA and has no device yet, the enrolment pages) and
sign-out: no clinic page, no REST API, no DICOMweb, no viewer, no admin.

This holds for the session cookie. A request with an API token (`Authorization: Bearer`) carries no
session: the token is its own credential, issued by an operator to a script (docs/authentication.md).
"""

from enum import Enum
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from accounts.mfa import selectors, sessions
from accounts.sso.sessions import mfa_by_provider

_API_PREFIXES = ("/api/", "/dicomweb/")
# The idle-timeout keepalive (accounts/sessions) only lengthens the half-signed-in session; it shows nothing.
_ALWAYS_ALLOWED = {"login", "logout", "session-keepalive", "otp_webauthn:js-i18n-catalog"}


class Step(Enum):
    VERIFY = "mfa:verify"
    ENROL = "mfa:security"


_ALLOWED = {
    Step.VERIFY: _ALWAYS_ALLOWED
    | {
        "mfa:verify",
        "otp_webauthn:credential-authentication-begin",
        "otp_webauthn:credential-authentication-complete",
    },
    Step.ENROL: _ALWAYS_ALLOWED
    | {
        "mfa:security",
        "mfa:add-totp",
        "mfa:add-passkey",
        "otp_webauthn:credential-registration-begin",
        "otp_webauthn:credential-registration-complete",
    },
}
_REFUSALS = {
    Step.VERIFY: "A second factor is required: finish signing in at /accounts/login/verify/.",
    Step.ENROL: "Your clinic requires a second factor: set one up at /accounts/security/.",
}


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return self.get_response(request)
        if mfa_by_provider(request):
            # A single sign-on whose clinic delegates MFA to its identity provider, and whose ID token
            # showed a second factor there (accounts/sso).
            return self.get_response(request)
        if sessions.had_passed_second_factor(request):
            # The device that verified this session is gone: an operator reset the user's second factors,
            # or the user removed it elsewhere. Whoever holds this session must sign in again.
            logout(request)
            messages.info(request, "Your second factors have changed: sign in again.")
            return redirect_to(reverse("login"), request)
        step = pending_step(request)
        if step is None or _view_name(request.path_info) in _ALLOWED[step]:
            return self.get_response(request)
        if request.path_info.startswith(_API_PREFIXES):
            return JsonResponse({"detail": _REFUSALS[step]}, status=403)
        return redirect_to(reverse(step.value), request)


def pending_step(request: HttpRequest) -> Step | None:
    """What a signed-in, unverified user still owes: a second factor, an enrolment, or nothing."""
    if sessions.second_factor_optional_now(request):
        return None
    user = request.user
    if selectors.has_second_factor(user):
        return Step.VERIFY
    if selectors.mfa_required(user):
        return Step.ENROL
    sessions.remember_second_factor_optional(request)
    return None


def redirect_to(url: str, request: HttpRequest) -> HttpResponse:
    """A redirect to `url` that comes back to the page asked for afterwards."""
    if request.method == "GET":
        url = f"{url}?{urlencode({'next': request.get_full_path()})}"
    return redirect(url)


def _view_name(path: str) -> str | None:
    try:
        return resolve(path).view_name
    except Resolver404:
        return None
