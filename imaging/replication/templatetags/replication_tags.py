"""A tenant's residency and replication status on its pages."""

from datetime import timedelta

from django import template

from accounts import policy
from imaging.replication.selectors import ReplicationStatus, replication_status
from portal.models import Tenant

register = template.Library()


@register.simple_tag
def residency_line(tenant: Tenant) -> str:
    """ "Your images are stored in EU (eu-1, eu-2)": the jurisdiction and every region holding a copy."""
    regions = ", ".join([tenant.home_region, *tenant.replica_regions])
    return f"Your images are stored in {tenant.jurisdiction} ({regions})"


@register.simple_tag(takes_context=True)
def replication_status_for_admins(context) -> ReplicationStatus | None:
    """The page's clinic (`tenant`) replication status, for those who run the clinic; inside its scope."""
    tenant, user = context.get("tenant"), context["request"].user
    if tenant is None or not policy.can(user, policy.Action.VIEW_STORAGE_STATUS, tenant):
        return None
    return replication_status(tenant)


@register.filter
def lag_text(lag: timedelta) -> str:
    """A lag as people say it: "40 s", "12 min", "3 h 5 min"."""
    seconds = int(lag.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
