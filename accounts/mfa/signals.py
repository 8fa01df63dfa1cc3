from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.mfa import sessions


@receiver(user_logged_in, dispatch_uid="mfa-each-sign-in-passes-its-own-second-factor")
def _start_unverified(sender, request, user, **kwargs) -> None:
    # Django keeps the session's data when the same user signs in again; a second factor passed before
    # must not carry over to a new password sign-in, nor a cached "not required" to a changed policy.
    session = getattr(request, "session", None)
    if session is None:
        return
    for key in (DEVICE_ID_SESSION_KEY, sessions.VERIFIED_AT_SESSION_KEY, sessions.OPTIONAL_UNTIL_SESSION_KEY):
        session.pop(key, None)
