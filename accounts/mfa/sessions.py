"""What a session remembers of its second factor.

django-otp keeps the verifying device's ID in the session (DEVICE_ID_SESSION_KEY) and forgets it silently
when the device is gone. Palisade also notes when the factor was passed: a session that had passed one
but whose device has since disappeared (an operator's reset, a removal from another browser) is ended
rather than quietly asked again (SecondFactorMiddleware), and the time answers "recently verified?" for
the changes that need a fresh proof.
"""

import time

from django.http import HttpRequest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device

VERIFIED_AT_SESSION_KEY = "palisade_mfa_verified_at"
# A user who needs no second factor is not asked again for a while; policy changes apply within this.
OPTIONAL_UNTIL_SESSION_KEY = "palisade_mfa_optional_until"
OPTIONAL_RECHECK_SECONDS = 5 * 60
# Removing a second factor or replacing backup codes needs a second factor passed this recently.
REVERIFY_SECONDS = 10 * 60


def mark_verified(request: HttpRequest, device: Device) -> None:
    otp_login(request, device)
    request.session[VERIFIED_AT_SESSION_KEY] = time.time()


def session_verified_data(device: Device) -> dict:
    """The session entries of a session verified by `device` (for sessions made without a request)."""
    return {DEVICE_ID_SESSION_KEY: device.persistent_id, VERIFIED_AT_SESSION_KEY: time.time()}


def recently_verified(request: HttpRequest) -> bool:
    verified_at = request.session.get(VERIFIED_AT_SESSION_KEY)
    return (
        request.user.is_verified()
        and verified_at is not None
        and time.time() - verified_at < REVERIFY_SECONDS
    )


def had_passed_second_factor(request: HttpRequest) -> bool:
    return VERIFIED_AT_SESSION_KEY in request.session


def forget_second_factor(request: HttpRequest) -> None:
    """The session is no longer verified (its device was removed here): it must pass a factor again."""
    request.session.pop(DEVICE_ID_SESSION_KEY, None)
    request.session.pop(VERIFIED_AT_SESSION_KEY, None)
    request.user.otp_device = None


def second_factor_optional_now(request: HttpRequest) -> bool:
    return request.session.get(OPTIONAL_UNTIL_SESSION_KEY, 0) > time.time()


def remember_second_factor_optional(request: HttpRequest) -> None:
    request.session[OPTIONAL_UNTIL_SESSION_KEY] = time.time() + OPTIONAL_RECHECK_SECONDS


def forget_second_factor_optional(request: HttpRequest) -> None:
    request.session.pop(OPTIONAL_UNTIL_SESSION_KEY, None)
