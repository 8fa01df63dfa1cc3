"""Single sign-on pages: start the flow at the clinic's provider, and come back to Palisade.

Both answer 404 for a clinic that does not exist, is inactive, or has no enabled provider: the same
answer, so that these URLs do not tell which clinics exist (DESIGN.md, Tenancy).
"""

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.sso import client, services
from accounts.sso.models import OidcProvider

logger = logging.getLogger(__name__)


def _enabled_provider(request: HttpRequest) -> OidcProvider:
    # TenantScopeMiddleware resolved `tenant_slug` to an active clinic, or left None.
    provider = (
        OidcProvider.objects.select_related("tenant").filter(tenant=request.tenant, enabled=True).first()
        if request.tenant is not None
        else None
    )
    if provider is None:
        raise Http404
    return provider


def _refused(request: HttpRequest, provider: OidcProvider, message: str, status: int = 403) -> HttpResponse:
    return render(request, "sso/refused.html", {"tenant": provider.tenant, "message": message}, status=status)


@never_cache
@require_GET
def start(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    provider = _enabled_provider(request)
    redirect_uri = request.build_absolute_uri(reverse("sso-callback", args=[provider.tenant.slug]))
    try:
        return client.authorization_redirect(request, provider, redirect_uri)
    except client.ProviderError as error:
        logger.warning("Single sign-on of tenant %s unavailable: %s", provider.tenant_id, error)
        services.record_refusal(request, provider, error.reason)
        return _refused(
            request, provider, "The clinic's sign-in service cannot be reached. Try again later.", 502
        )


@never_cache
@require_GET
def callback(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    provider = _enabled_provider(request)
    try:
        claims = client.verified_id_token_claims(request, provider)
    except client.ProviderError as error:
        logger.warning("Single sign-on of tenant %s refused: %s", provider.tenant_id, error)
        services.record_refusal(request, provider, error.reason)
        return _refused(request, provider, "The sign-in could not be completed. Start again.")
    try:
        services.sign_in(request, provider, claims)
    except services.SignInRefused as refusal:
        services.record_refusal(request, provider, refusal.reason, refusal.email)
        return _refused(request, provider, str(refusal))
    return redirect("clinic-dashboard", tenant_slug=provider.tenant.slug)
