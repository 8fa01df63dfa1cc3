"""The members page: staff, their roles and pending invitations (clinic admins)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.mfa.selectors import has_second_factor
from accounts.models import Membership
from accounts.policy import Action
from accounts.roles import Role
from portal.decorators import tenant_action_required
from portal.onboarding import invitations, members
from portal.onboarding.forms import (
    InviteForm,
    RoleForm,
)
from portal.onboarding.models import Invitation
from portal.onboarding.views import accept_url

# --- Members --------------------------------------------------------------------------------------------


def _members_page(request: HttpRequest, invite_form: InviteForm, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    now = timezone.now()
    rows = [
        {"membership": m, "mfa": has_second_factor(m.user), "role_form": RoleForm(initial={"role": m.role})}
        for m in members.staff_memberships(tenant)
    ]
    pending = [
        {"invitation": i, "state": i.state_at(now)}
        for i in Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    ]
    return render(
        request,
        "onboarding/members.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "rows": rows,
            "pending": pending,
            "invite_form": invite_form,
        },
        status=status,
    )


@tenant_action_required(Action.MANAGE_CLINIC)
@require_http_methods(["GET", "POST"])
def clinic_members(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = invitations.create_invitation(
                request.tenant,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
                invited_by=request.user,
                request=request,
            )
        except ValidationError as exc:
            for field_name, errors in exc.message_dict.items():
                form.add_error(field_name if field_name in form.fields else None, errors)
            return _members_page(request, form, status=400)
        invitations.send_invitation(invitation, token, accept_url(request, token))
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return redirect("clinic-members", tenant_slug=tenant_slug)
    return _members_page(request, form, status=400 if request.method == "POST" else 200)


def _member(request: HttpRequest, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "tenant").exclude(role=Role.PATIENT),
        pk=membership_id,
        tenant=request.tenant,
    )


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def member_role(request: HttpRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    membership = _member(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the staff roles.")
    else:
        try:
            if members.change_role(membership, form.cleaned_data["role"], request=request):
                messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("clinic-members", tenant_slug=tenant_slug)


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def member_remove(request: HttpRequest, tenant_slug: str, membership_id: int) -> HttpResponse:
    membership = _member(request, membership_id)
    try:
        members.remove_member(membership, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.email} was removed from the clinic.")
    return redirect("clinic-members", tenant_slug=tenant_slug)


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def invitation_resend(request: HttpRequest, tenant_slug: str, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    try:
        token = invitations.resend_invitation(invitation, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        invitations.send_invitation(invitation, token, accept_url(request, token))
        messages.success(request, f"Invitation sent again to {invitation.email}.")
    return redirect("clinic-members", tenant_slug=tenant_slug)


@tenant_action_required(Action.MANAGE_CLINIC)
@require_POST
def invitation_revoke(request: HttpRequest, tenant_slug: str, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id)
    if invitations.revoke_invitation(invitation, request=request):
        messages.success(request, f"The invitation of {invitation.email} was withdrawn.")
    return redirect("clinic-members", tenant_slug=tenant_slug)
