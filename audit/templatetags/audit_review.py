"""Links to the audit pages for the clinic dashboard, shown to those who may open them."""

from django import template
from django.urls import reverse

from accounts import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def audit_review_links(context) -> list[dict]:
    """[{"url", "label", "testid"}] for the signed-in member of the page's clinic (`tenant`)."""
    tenant, user = context.get("tenant"), context["request"].user
    if tenant is None:
        return []
    links = []
    if policy.can(user, policy.Action.VIEW_AUDIT, tenant):
        links.append(
            {
                "url": reverse("audit-review", args=[tenant.slug]),
                "label": "Audit trail",
                "testid": "audit-review-link",
            }
        )
    if policy.can(user, policy.Action.VIEW_AUDIT, tenant):
        links.append(
            {"url": reverse("alerts", args=[tenant.slug]), "label": "Alerts", "testid": "alerts-link"}
        )
    if policy.can(user, policy.Action.BREAK_GLASS, tenant):
        links.append(
            {
                "url": reverse("break-glass", args=[tenant.slug]),
                "label": "Emergency access",
                "testid": "break-glass-link",
            }
        )
    if policy.can(user, policy.Action.VIEW_OWN_ACCESS_HISTORY, tenant):
        links.append(
            {
                "url": reverse("access-history", args=[tenant.slug]),
                "label": "Who viewed my images",
                "testid": "access-history-link",
            }
        )
    return links
