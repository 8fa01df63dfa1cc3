"""A share link's visitor: the session that opened a link, and nobody else.

Opening swaps the token for the session (`admit_visitor`); on each later request the middleware asks
`visitor_for` who the anonymous caller is. The session holds the link's id, never the token."""

from django.contrib.auth import logout
from django.http import HttpRequest
from django.middleware.csrf import rotate_token

from accounts.policy import LinkVisitor
from portal.models import Tenant
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope

# The session entry that makes an anonymous session a link visitor's (middleware.py).
SESSION_KEY = "palisade_share_link"


def admit_visitor(request: HttpRequest, link: ShareLink) -> None:
    """Swap the token for a session: the session holds the link, and its key and CSRF token are new.

    A signed-in user is signed out first: a session is one person's, and a member's own rights mixed with
    a link's would show them, and record in the audit trail, something else than the link shares."""
    if request.user.is_authenticated:
        logout(request)
    request.session[SESSION_KEY] = {"link": link.pk, "tenant": link.tenant_id}
    # As at sign-in: a session key planted before the opening must not become the visitor's.
    request.session.cycle_key()
    rotate_token(request)
    request.user = LinkVisitor(link)


def visitor_for(request: HttpRequest) -> LinkVisitor | None:
    """The link visitor of an anonymous session that opened a link, its link read afresh from the
    database (the policy reads it again for each decision). None for anyone else."""
    held = request.session.get(SESSION_KEY)
    if not isinstance(held, dict) or request.user.is_authenticated:
        return None
    tenant = Tenant.objects.filter(pk=held.get("tenant"), is_active=True).first()
    link = None
    if tenant is not None:
        with tenant_scope(tenant):
            link = ShareLink.objects.select_related("tenant").filter(pk=held.get("link")).first()
    if link is None:
        del request.session[SESSION_KEY]
        return None
    # Kept even when the link has ended: the policy then refuses (404), rather than the visitor becoming
    # an anonymous caller sent to a sign-in page they have no account for.
    return LinkVisitor(link)
