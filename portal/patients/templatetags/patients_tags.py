from django import template
from django.urls import reverse

from accounts import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def access_code_url(context, tenant, study) -> str:
    """Where a member of staff issues an access code for the study's patient, or "" if they may not."""
    user = context["request"].user
    if not policy.can(user, policy.Action.ISSUE_ACCESS_CODE, tenant):
        return ""
    return reverse(
        "patient-access-code-new", kwargs={"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid}
    )
