from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.middleware import PASSWORD_EXPIRED_SESSION_KEY
from accounts.models import SecurityPolicy
from accounts.passwords import password_has_expired
from portal.models import Tenant


@receiver(user_logged_in, dispatch_uid="accounts-password-expiry")
def _check_password_age(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    if password_has_expired(user):
        session[PASSWORD_EXPIRED_SESSION_KEY] = True
    else:
        session.pop(PASSWORD_EXPIRED_SESSION_KEY, None)


@receiver(post_save, sender=Tenant, dispatch_uid="accounts-default-security-policy")
def _give_new_clinic_a_policy(sender, instance: Tenant, created: bool, raw: bool = False, **kwargs) -> None:
    # Visible and editable in the admin from the clinic's first day, with the defaults.
    if created and not raw:
        SecurityPolicy.objects.get_or_create(tenant=instance)
