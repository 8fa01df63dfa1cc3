from django import template

from accounts import policy
from accounts.policy import Action
from portal.agreements import selectors
from portal.models import Tenant

register = template.Library()


@register.inclusion_tag("agreements/banner.html", takes_context=True)
def agreements_banner(context: template.Context, tenant: Tenant) -> dict:
    """A warning while an agreement the clinic needs is missing, expired, or ends within 30 days;
    nothing otherwise. The link to the agreements page is shown to those who may open it."""
    statuses = [status for status in selectors.agreement_statuses(tenant) if status.state != "in_force"]
    request = context.get("request")
    user = getattr(request, "user", None)
    may_open = user is not None and (
        policy.can(user, Action.MANAGE_CLINIC, tenant) or policy.can(user, Action.VIEW_COMPLIANCE, tenant)
    )
    return {
        "tenant": tenant,
        "statuses": statuses,
        "blocking": any(status.blocks_ingestion for status in statuses),
        "may_open": may_open,
    }
