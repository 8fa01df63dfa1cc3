"""Sharing in templates: links to the sharing pages for the dashboard and the top bar, shown to those who
use them, and a share's last day."""

from datetime import date, datetime, timedelta

from django import template
from django.urls import reverse
from django.utils import timezone

from accounts import policy
from accounts.models import Membership
from accounts.roles import Role

register = template.Library()


@register.simple_tag(takes_context=True)
def sharing_links(context) -> list[dict]:
    """[{"url", "label", "testid"}] for the signed-in member of the page's clinic (`tenant`)."""
    tenant, user = context.get("tenant"), context["request"].user
    if tenant is None:
        return []
    links = []
    if policy.can(user, policy.Action.MANAGE_SHARES, tenant):
        links.append(
            {
                "url": reverse("clinic-shares", args=[tenant.slug]),
                "label": "Shares",
                "testid": "clinic-shares-link",
            }
        )
    if policy.can(user, policy.Action.MANAGE_CONSENTS, tenant):
        links.append(
            {
                "url": reverse("clinic-consents", args=[tenant.slug]),
                "label": "Consents",
                "testid": "consents-link",
            }
        )
    if shows_worklist(user):
        links.append(
            {"url": reverse("shared-worklist"), "label": "Shared with me", "testid": "worklist-link"}
        )
    return links


@register.filter
def shows_worklist(user) -> bool:
    """Whether `user` refers patients to some clinic, and so has a worklist of what is shared with them.
    Navigation only: the worklist itself shows what the policy lets them see."""
    cache = user.__dict__.setdefault("_palisade_sharing_nav", {})
    if "worklist" not in cache:
        cache["worklist"] = (
            user.is_authenticated
            and Membership.objects.filter(
                user=user, role=Role.REFERRING_PHYSICIAN, tenant__is_active=True
            ).exists()
        )
    return cache["worklist"]


@register.filter
def last_day(expires_at: datetime) -> date:
    """The day a share was given "until": it ends at the start of the next (services.share_ends_at)."""
    return timezone.localtime(expires_at - timedelta(microseconds=1)).date()
