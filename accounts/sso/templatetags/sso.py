from django import template

from accounts.sso.models import OidcProvider

register = template.Library()


@register.inclusion_tag("sso/sign_in_links.html")
def sso_sign_in_links() -> dict:
    """A "Sign in with <clinic> SSO" link per clinic that offers single sign-on on the sign-in page."""
    providers = OidcProvider.objects.filter(
        enabled=True, show_on_sign_in_page=True, tenant__is_active=True
    ).select_related("tenant")
    return {"providers": list(providers)}
