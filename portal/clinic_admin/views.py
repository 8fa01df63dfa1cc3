"""The clinic's settings hub and its policy pages. Each parses the form, calls portal.clinic_admin's
services, and renders; anyone but the clinic's admins gets 404 (portal.decorators)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts import policy
from accounts.roles import Role
from accounts.security_policy import policy_for_tenant
from portal.clinic_admin import selectors, services
from portal.clinic_admin.forms import SecurityPolicyForm, SharingPolicyForm
from portal.decorators import tenant_action_required


def _context(request: HttpRequest, **extra) -> dict:
    return {"tenant": request.tenant, "membership": request.membership, **extra}


@tenant_action_required(policy.Action.MANAGE_CLINIC)
@require_GET
@never_cache
def settings_hub(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant
    security = policy_for_tenant(tenant)
    return render(
        request,
        "clinic_admin/settings.html",
        _context(
            request,
            links=selectors.hub_links(request.user, tenant),
            security=security,
            mfa_roles=[Role(role).label for role in security.mfa_required_roles if role in Role.values],
            sharing=selectors.sharing_policy_of(tenant),
        ),
    )


def _save(request: HttpRequest, form, change, what: str, url_name: str) -> HttpResponse | None:
    """Apply a valid form through `change`; the redirect, or None to show the form with its errors."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        changed = change(
            request.tenant, form.cleaned_data, request=request, actor_role=request.membership.role
        )
    except services.PolicyRefused as refusal:
        for field, error in refusal.errors.items():
            form.add_error(field if field in form.fields else None, error)
        return None
    if changed:
        messages.success(request, f"{what} saved: {len(changed)} rule(s) changed.")
    else:
        messages.info(request, f"{what}: nothing changed.")
    return redirect(url_name, tenant_slug=request.tenant.slug)


@tenant_action_required(policy.Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
@never_cache
def security_policy(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    current = policy_for_tenant(request.tenant)
    form = SecurityPolicyForm(
        request.POST if request.method == "POST" else None,
        initial={field: getattr(current, field) for field in services.SECURITY_FIELDS},
    )
    saved = _save(request, form, services.change_security_policy, "Security policy", "clinic-security-policy")
    if saved is not None:
        return saved
    return render(
        request,
        "clinic_admin/security_policy.html",
        _context(
            request,
            form=form,
            current=current,
            always_mfa_values=sorted(services.ALWAYS_MFA_ROLES),
        ),
    )


@tenant_action_required(policy.Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
@never_cache
def sharing_policy(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    current = selectors.sharing_policy_of(request.tenant)
    form = SharingPolicyForm(
        request.POST if request.method == "POST" else None,
        initial={field: getattr(current, field) for field in services.SHARING_FIELDS},
    )
    saved = _save(request, form, services.change_sharing_policy, "Sharing policy", "clinic-sharing-policy")
    if saved is not None:
        return saved
    return render(request, "clinic_admin/sharing_policy.html", _context(request, form=form, current=current))
