"""One-time codes e-mailed to a share link's recipient, for links that ask for one instead of a PIN.

The code is made, hashed and mailed by a Celery task, so that it never travels through the broker nor
stays anywhere but in the recipient's mailbox; the link keeps its hash and expiry, and checking an answer
is services.open_link's, like a PIN's."""

import logging
import secrets
from datetime import timedelta
from enum import StrEnum

from django.contrib.auth.hashers import make_password
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from portal.models import Tenant
from portal.sharing.links.services import LinkState, link_state
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)

EMAIL_CODE_DIGITS = 6
EMAIL_CODE_LIFETIME = timedelta(minutes=10)
# A recipient may ask for a new code this often; more would let the link's holder flood their mailbox.
EMAIL_CODE_RESEND_INTERVAL = timedelta(seconds=60)


class CodeRequest(StrEnum):
    QUEUED = "queued"
    TOO_SOON = "too_soon"
    # The broker did not take the task: nothing was sent, and the recipient may ask again at once.
    UNAVAILABLE = "unavailable"


def request_email_code(link: ShareLink) -> CodeRequest:
    """Queue a new code for the link's recipient, unless one was asked for within the resend interval.

    The code is made by the task (`send_email_code`), so that it never travels through the broker. Asking
    invalidates the previous code at once; the recipient uses the newest one."""
    from portal.sharing.links.tasks import send_share_link_code

    now = timezone.now()
    # email_code_expires_at is set on asking (then again when the code is made): asked at expiry - lifetime.
    asked_recently = Q(email_code_expires_at__gt=now + EMAIL_CODE_LIFETIME - EMAIL_CODE_RESEND_INTERVAL)
    links = ShareLink.objects.filter(pk=link.pk, requires_email_code=True)
    if not links.exclude(asked_recently).update(
        email_code_hash="", email_code_expires_at=now + EMAIL_CODE_LIFETIME
    ):
        return CodeRequest.TOO_SOON
    try:
        send_share_link_code.delay(link.pk, link.tenant_id)
    except BrokerError:
        logger.warning("Broker unreachable; no code sent for share link %s", link.pk)
        links.update(email_code_expires_at=None)
        return CodeRequest.UNAVAILABLE
    return CodeRequest.QUEUED


def send_email_code(link_id: int, tenant_id: int) -> None:
    """Make a code, keep its hash, mail it to the recipient (the Celery task's body). Running twice sends
    two codes, of which the newer one works: harmless, so no bookkeeping to make it exactly-once."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    with tenant_scope(tenant):
        link = ShareLink.objects.filter(pk=link_id, requires_email_code=True).first()
        if link is None or link_state(link) != LinkState.ACTIVE or not link.recipient_email:
            return
        code = f"{secrets.randbelow(10**EMAIL_CODE_DIGITS):0{EMAIL_CODE_DIGITS}d}"
        ShareLink.objects.filter(pk=link.pk).update(
            email_code_hash=make_password(code), email_code_expires_at=timezone.now() + EMAIL_CODE_LIFETIME
        )
    minutes = int(EMAIL_CODE_LIFETIME.total_seconds() // 60)
    # No clinic, study or sender named: the mail may be read by others than the recipient.
    body = render_to_string("sharing/links/email_code.txt", {"code": code, "minutes": minutes})
    send_mail("Your Palisade code", body, None, [link.recipient_email])


def masked_email(address: str) -> str:
    """The address as `d•••@example.org`: enough for the recipient to know where to look, not an
    address to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"
