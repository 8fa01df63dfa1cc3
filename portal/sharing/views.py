"""Sharing pages: share a study with a doctor, end a share, the doctor's worklist, the clinic's shares
and per-study rights. Each parses the request, asks accounts.policy, and calls portal.sharing.services
or .selectors. Anything the user may not touch answers 404, as if it did not exist."""

from itertools import groupby

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import audit
from accounts import policy
from accounts.roles import Role
from audit.models import AuditAction
from imaging.models import Study
from portal.decorators import tenant_action_required, tenant_member_required
from portal.paging import paged
from portal.sharing import selectors, services
from portal.sharing.forms import ShareForm, StudyRightForm
from portal.sharing.models import Share


def _study_or_404(request: HttpRequest, study_uid: str, action: policy.Action) -> Study:
    study = get_object_or_404(Study.objects.select_related("patient", "tenant"), study_instance_uid=study_uid)
    if not policy.can(request.user, action, study):
        raise Http404
    return study


@tenant_member_required
@require_http_methods(["GET", "POST"])
@never_cache
def share_study(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    study = _study_or_404(request, study_uid, policy.Action.SHARE_STUDY)
    tenant = request.tenant
    may_invite = policy.can(request.user, policy.Action.INVITE_DOCTOR, tenant)
    form = ShareForm(
        request.POST if request.method == "POST" else None,
        may_invite=may_invite,
        may_share_patient=policy.can(request.user, policy.Action.SHARE_PATIENT, tenant),
    )
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = services.share_with_doctor(
                sharer=request.user,
                study=study,
                email=data["email"],
                last_day=data["last_day"],
                note=data["note"],
                allow_download=data["allow_download"],
                whole_patient=form.whole_patient,
                invite=form.invite,
                full_name=data.get("full_name", ""),
                request=request,
            )
        except services.ShareRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            share = outcome.share
            messages.success(
                request,
                f"Shared with {share.grantee.email} until {data['last_day']:%Y-%m-%d}."
                + (" An invitation e-mail is on its way." if outcome.invited else ""),
            )
            return redirect("study-detail", tenant_slug=tenant.slug, study_uid=study.study_instance_uid)
    # Sharers who may invite are clinic staff: offering the clinic's doctors' addresses saves typing.
    doctors = selectors.clinic_doctor_emails(tenant) if may_invite else []
    return render(
        request,
        "sharing/share_form.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "study": study,
            "form": form,
            "doctors": doctors,
        },
    )


def _next_or(request: HttpRequest, fallback: str) -> str:
    """Back to the page the revoke button was on, if it is a page of this site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@tenant_member_required
@require_POST
def revoke_share(request: HttpRequest, tenant_slug: str, share_id: int) -> HttpResponse:
    share = get_object_or_404(
        Share.objects.select_related("tenant", "grantee", "study__patient", "patient"), pk=share_id
    )
    if not policy.can(request.user, policy.Action.REVOKE_SHARE, share):
        raise Http404
    capacity = services.revoker_capacity(request.user, share)
    if services.revoke_share(share, actor=request.user, request=request, by=capacity):
        messages.success(request, f"Share with {share.grantee.email} ended: it no longer opens anything.")
    else:
        messages.info(request, f"The share with {share.grantee.email} had already ended.")
    fallback = (
        reverse("study-detail", args=[request.tenant.slug, share.study.study_instance_uid])
        if share.study_id
        else reverse("clinic-dashboard", args=[request.tenant.slug])
    )
    return redirect(_next_or(request, fallback))


@login_required
@require_GET
@never_cache
def shared_worklist(request: HttpRequest) -> HttpResponse:
    worklist = paged(request, selectors.doctor_worklist(request.user))
    rows = selectors.worklist_rows(request.user, worklist.page)
    # One list event per clinic for the rows shown, in its own chain, as the clinic dashboard records.
    for tenant, tenant_rows in groupby(
        sorted(rows, key=lambda row: row.tenant.pk), key=lambda row: row.tenant
    ):
        audit.record(
            AuditAction.VIEW_STUDY_LIST,
            request=request,
            tenant=tenant,
            actor_role=Role.REFERRING_PHYSICIAN.value,
            object_type="study",
            object_ids=[row.study.study_instance_uid for row in tenant_rows],
            details={"page": "shared_worklist"},
        )
    return render(request, "sharing/worklist.html", {"rows": rows, "worklist": worklist})


def _clinic_shares_page(request: HttpRequest, right_form: StudyRightForm, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    state = request.GET.get("state", "active")
    if state not in selectors.SHARE_FILTERS:
        state = "active"
    now = timezone.now()
    # Newest first, a page at a time; the page links keep the state filter.
    shares = paged(request, selectors.clinic_shares(tenant, state).order_by("-created_at", "-pk"))
    links = selectors.clinic_links(tenant, state)
    audit.record(
        AuditAction.VIEW_STUDY_LIST,
        request=request,
        actor_role=request.membership.role,
        object_type="share",
        object_ids=[str(share.pk) for share in shares.page],
        details={"page": "clinic_shares", "state": state, "share_links": [row.link.pk for row in links]},
    )
    return render(
        request,
        "sharing/clinic_shares.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "state": state,
            "filters": selectors.SHARE_FILTERS,
            "shares": shares,
            "rows": [
                selectors.ShareRow(
                    share,
                    selectors.share_state(share, now),
                    policy.can(request.user, policy.Action.REVOKE_SHARE, share),
                )
                for share in shares.page
            ],
            "links": links,
            "rights": selectors.clinic_study_rights(tenant),
            "right_form": right_form,
            "right_labels": services.STUDY_RIGHTS,
        },
        status=status,
    )


@tenant_action_required(policy.Action.MANAGE_SHARES)
@require_GET
@never_cache
def clinic_shares(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _clinic_shares_page(request, StudyRightForm(initial={"operation": "give"}))


@tenant_action_required(policy.Action.MANAGE_SHARES)
@require_POST
def change_study_right(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = StudyRightForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        # The clinic's scope is active: another clinic's study is not found, like a missing one.
        study = Study.objects.filter(study_instance_uid=data["study_uid"].strip()).first()
        if study is None:
            form.add_error("study_uid", "No study of this clinic has this Study Instance UID.")
        else:
            change = services.give_study_right if data["operation"] == "give" else services.remove_study_right
            try:
                doctor = change(
                    admin=request.user,
                    study=study,
                    email=data["email"],
                    codename=data["right"],
                    request=request,
                )
            except services.ShareRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                right = services.STUDY_RIGHTS[data["right"]]
                done = "given to" if data["operation"] == "give" else "taken from"
                messages.success(request, f"Right “{right}” on the study {done} {doctor.email}.")
                return redirect("clinic-shares", tenant_slug=request.tenant.slug)
    return _clinic_shares_page(request, form, status=400)
