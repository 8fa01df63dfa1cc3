from django import template
from django.urls import reverse

from accounts import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def deidentified_download_url(context, tenant, study) -> str:
    """Where the user downloads the study de-identified, or "" if they may not."""
    if not policy.can(context["request"].user, policy.Action.DOWNLOAD_DEIDENTIFIED, study):
        return ""
    return reverse(
        "study-deidentified-download",
        kwargs={"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid},
    )


@register.simple_tag(takes_context=True)
def research_projects_url(context) -> str:
    """The clinic's research projects page for the dashboard, or "" if the user may not manage them."""
    tenant = context.get("tenant")
    if tenant is None or not policy.can(context["request"].user, policy.Action.MANAGE_RESEARCH, tenant):
        return ""
    return reverse("research-projects", kwargs={"tenant_slug": tenant.slug})
