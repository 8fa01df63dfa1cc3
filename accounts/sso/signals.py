from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.sso import sessions


@receiver(user_logged_in, dispatch_uid="sso-each-sign-in-earns-its-own-mfa")
def _start_without_provider_mfa(sender, request, user, **kwargs) -> None:
    # Django keeps the session's data when the same user signs in again: an earlier single sign-on's
    # MFA must not carry over to a password sign-in. A single sign-on sets it again after login().
    sessions.forget_mfa_by_provider(request)
