"""The sharing app's Celery tasks: the invitation e-mail to a doctor (portal.sharing.services) and,
imported from portal.sharing.links.tasks, the share links' one-time codes (Celery's autodiscovery imports
only `<app>.tasks`)."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from portal.models import Tenant
from portal.sharing.links.tasks import send_share_link_code

__all__ = ["send_share_invitation", "send_share_link_code"]


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_share_invitation(
    user_id: int, tenant_id: int, inviter_id: int, domain: str, use_https: bool
) -> None:
    """E-mail a doctor just made a referring doctor of a clinic (portal.sharing.services) a link to set
    their password, or, when they have signed in before, to sign in. Takes IDs: the rows are read when
    the mail is sent. The mail names the clinic and the sharer, never a patient or a study."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if user is None or tenant is None:
        return  # the account or the clinic went away before the mail could leave: nobody to invite
    context = {
        "user": user,
        "tenant": tenant,
        "inviter": User.objects.filter(pk=inviter_id).first(),
        "protocol": "https" if use_https else "http",
        # The host the sharer used; a call without a request (a script) falls back to the first
        # configured host.
        "domain": domain or settings.ALLOWED_HOSTS[0],
        # Someone who has signed in before (at another clinic) has a password: the mail tells them to
        # sign in with it. Everyone else sets one through Django's password reset confirmation.
        "set_password": user.last_login is None,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "link_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        " ".join(render_to_string("sharing/invitation_subject.txt", context).split()),
        render_to_string("sharing/invitation_email.txt", context),
        None,
        [user.email],
    )
