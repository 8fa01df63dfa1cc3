"""The daily warning, 30 days ahead, that an agreement a clinic needs is about to end."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from portal.agreements.models import AgreementAcceptance
from portal.agreements.services import Expiring, expiring
from portal.models import Tenant
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def warn_expiring_agreements() -> int:
    """E-mail each clinic's admins once per acceptance that ends within 30 days and that no later
    acceptance of the same kind outlasts; returns how many warnings went out. Idempotent: an
    acceptance is claimed (expiry_warned_at) before its mail is sent, and released if sending fails."""
    sent = 0
    for tenant in Tenant.objects.filter(is_active=True).order_by("pk"):
        for item in expiring(tenant):
            if item.acceptance.expiry_warned_at is None and _warn(tenant, item):
                sent += 1
    return sent


def _warn(tenant: Tenant, item: Expiring) -> bool:
    admins = list(
        User.objects.filter(
            memberships__tenant=tenant, memberships__role=Role.TENANT_ADMIN, is_active=True
        ).order_by("email")
    )
    if not admins:
        # Nobody to tell yet: left unclaimed, so that an admin who joins before the end is warned.
        logger.warning(
            "Agreement %s of tenant %s expires soon; the clinic has no admin", item.acceptance.pk, tenant.pk
        )
        return False
    with tenant_scope(tenant):
        claimed = AgreementAcceptance.objects.filter(
            pk=item.acceptance.pk, expiry_warned_at__isnull=True
        ).update(expiry_warned_at=timezone.now())
        if not claimed:
            return False  # another run warned meanwhile
        acceptance = item.acceptance
        context = {
            "tenant": tenant,
            "label": acceptance.text.get_kind_display(),
            "version": acceptance.text.version,
            "expires_at": acceptance.expires_at,
            "days_left": item.days_left,
            "url": settings.PALISADE_BASE_URL.rstrip("/") + reverse("agreements", args=[tenant.slug]),
        }
        try:
            send_mail(
                " ".join(render_to_string("agreements/expiry_subject.txt", context).split()),
                render_to_string("agreements/expiry_email.txt", context),
                None,
                [admin.email for admin in admins],
            )
        except Exception:
            # Released for the retry (or tomorrow's run): a warning lost would let the agreement lapse.
            with transaction.atomic():
                AgreementAcceptance.objects.filter(pk=acceptance.pk).update(expiry_warned_at=None)
            raise
    return True
