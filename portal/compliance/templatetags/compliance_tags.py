"""Links to the compliance report and the transparency page, for the clinic dashboard's actions."""

from django import template
from django.urls import reverse

from accounts import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def compliance_links(context) -> list[dict]:
    """[{"url", "label", "testid"}] for the signed-in member of the page's clinic (`tenant`): the
    compliance report for those who may read it, the transparency page for every member."""
    tenant, user = context.get("tenant"), context["request"].user
    if tenant is None:
        return []
    links = []
    if policy.can(user, policy.Action.VIEW_COMPLIANCE, tenant):
        links.append(
            {
                "url": reverse("compliance-report", args=[tenant.slug]),
                "label": "Compliance report",
                "testid": "compliance-report-link",
            }
        )
    if policy.can(user, policy.Action.VIEW_TRANSPARENCY, tenant):
        links.append(
            {
                "url": reverse("transparency", args=[tenant.slug]),
                "label": "How your data is protected",
                "testid": "transparency-link",
            }
        )
    return links
