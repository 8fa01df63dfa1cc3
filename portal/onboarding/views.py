"""Onboarding pages: the public request, joining by invitation, and the clinic admin's pages (checklist,
home region; members in member_views, DICOM peers in peer_views). Views parse, call a service, and render."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.mfa.sessions import forget_second_factor_optional
from accounts.models import User
from accounts.policy import Action
from accounts.roles import Role
from accounts.sessions.services import client_address
from imaging.models import Study
from portal.decorators import private_page, tenant_action_required
from portal.onboarding import invitations, selectors, services
from portal.onboarding.forms import (
    ClinicRequestForm,
    RegionForm,
    SetPasswordForm,
)
from portal.onboarding.models import Invitation
from portal.sharing.links.csrf import no_referrer_csrf_protect

# --- The public request page ----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def clinic_request(request: HttpRequest) -> HttpResponse:
    form = ClinicRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.request_clinic(
                **form.cleaned_data, request=request, source_address=client_address(request)
            )
        except services.RequestThrottled as refusal:
            form.add_error(None, str(refusal))
            return render(request, "onboarding/request.html", {"form": form}, status=429)
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, errors)
        else:
            return redirect("clinic-request-thanks")
    return render(request, "onboarding/request.html", {"form": form})


@require_safe
def clinic_request_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "onboarding/request_thanks.html")


# --- Joining by invitation ------------------------------------------------------------------------------

_STATE_MESSAGES = {
    "accepted": "This invitation has already been used. If it was you, sign in.",
    "revoked": "This invitation was withdrawn by the clinic. Ask its admin for a new one if you need one.",
    "expired": "This invitation has expired. Ask the clinic's admin to send it again.",
}


def accept_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("invitation-accept", kwargs={"token": token}))


def _landing(user: User, invitation: Invitation) -> str:
    """Where a newcomer goes once joined: clinic admins of a clinic not yet live to the checklist."""
    if invitation.role == Role.TENANT_ADMIN and invitation.tenant.live_at is None:
        return reverse("onboarding-checklist", kwargs={"tenant_slug": invitation.tenant.slug})
    return reverse("clinic-dashboard", kwargs={"tenant_slug": invitation.tenant.slug})


@private_page  # the token is in the address: no cache, no Referer
@csrf_exempt  # the page is no-referrer, so its form posts with `Origin: null`: checked by the next one
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = invitations.find_invitation(token)
    if invitation is None:
        return render(request, "onboarding/invitation_unusable.html", {"reason": "unknown"}, status=404)
    state = invitation.state_at(timezone.now())
    if state != "pending":
        context = {"reason": state, "message": _STATE_MESSAGES[state]}
        return render(request, "onboarding/invitation_unusable.html", context, status=410)
    context = {
        "invitation": invitation,
        "tenant_name": invitation.tenant.name,
        "role": Role(invitation.role).label,
    }
    user = request.user
    if user.is_authenticated:
        if user.email.lower() != invitation.email.lower():
            return render(request, "onboarding/invitation_other_account.html", context)
        if request.method == "POST":
            return _join(request, invitation, user)
        return render(request, "onboarding/invitation_join.html", context)
    if User.objects.filter(email__iexact=invitation.email).exists():
        context["login_url"] = f"{reverse('login')}?next={request.path}"
        return render(request, "onboarding/invitation_sign_in.html", context)
    form = SetPasswordForm(request.POST or None)
    context.update(form=form, password_help=password_validators_help_texts())
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password1"]
        try:
            validate_password(
                password, User(email=invitation.email, full_name=form.cleaned_data["full_name"])
            )
        except ValidationError as errors:
            form.add_error("password1", errors)
        else:
            account = invitations.NewAccount(invitation.email, password, form.cleaned_data["full_name"])
            return _join(request, invitation, account)
    return render(request, "onboarding/invitation_set_password.html", context)


def _join(
    request: HttpRequest, invitation: Invitation, account: User | invitations.NewAccount
) -> HttpResponse:
    try:
        user = invitations.accept_invitation(invitation, account, request=request)
    except invitations.InvitationRefused as refusal:
        return render(
            request,
            "onboarding/invitation_unusable.html",
            {"reason": "refused", "message": str(refusal)},
            status=410,
        )
    if not request.user.is_authenticated:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    # The clinic may require a second factor of this role: let the middleware (accounts/mfa) ask now.
    forget_second_factor_optional(request)
    messages.success(request, f"Welcome to {invitation.tenant.name}.")
    return redirect(_landing(user, invitation))


# --- The checklist and go-live --------------------------------------------------------------------------


@tenant_action_required(Action.MANAGE_CLINIC)
@require_safe
def onboarding_checklist(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant
    return render(
        request,
        "onboarding/checklist.html",
        {"tenant": tenant, "membership": request.membership, "checklist": selectors.checklist(tenant)},
    )


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def onboarding_skip(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    try:
        services.skip_step(request.tenant, request.POST.get("step", ""), request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("onboarding-checklist", tenant_slug=tenant_slug)


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def onboarding_go_live(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    try:
        services.go_live(request.tenant, request=request)
    except services.NotReady as refusal:
        messages.error(request, str(refusal))
        return redirect("onboarding-checklist", tenant_slug=tenant_slug)
    messages.success(request, f"{request.tenant.name} is live.")
    return redirect("clinic-dashboard", tenant_slug=tenant_slug)


# --- Home region ----------------------------------------------------------------------------------------


@tenant_action_required(Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
def onboarding_region(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant
    choices = services.region_choices(tenant)
    initial = {"home_region": tenant.home_region, "replica_regions": tenant.replica_regions}
    form = RegionForm(request.POST or None, regions=choices, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.choose_region(
                tenant,
                form.cleaned_data["home_region"],
                form.cleaned_data["replica_regions"],
                request=request,
            )
        except services.RegionLocked as refusal:
            form.add_error(None, str(refusal))
            status = 409
        except ValidationError as exc:
            form.add_error(None, exc.messages)
            status = 400
        else:
            messages.success(request, f"Home region set to {tenant.home_region}.")
            return redirect("onboarding-checklist", tenant_slug=tenant_slug)
    return render(
        request,
        "onboarding/region.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "form": form,
            "jurisdiction": tenant.jurisdiction,
            "locked": Study.objects.exists(),
        },
        status=status,
    )
