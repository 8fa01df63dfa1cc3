"""The clinic's retention page: rules, what retention would destroy today, legal holds, erasure
requests and certificates of destruction. Every change goes through imaging.retention's services
(rule_changes, holds, erasure), which enforce the hold and two-person rules and write the audit trail;
these views parse, call, and render. Anyone but the clinic's admins gets 404 (portal.decorators).

Patients are named by their Patient ID within the clinic, studies by their Study Instance UID, both
posted in forms: no name and no identifier of a patient travels in a URL.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import audit
from accounts import policy
from audit.models import AuditAction
from imaging.models import Patient, Study
from imaging.retention import erasure, holds, rule_changes
from imaging.retention.forms import (
    ApprovalForm,
    ErasureRequestForm,
    LegalHoldForm,
    ReasonForm,
    RetentionRuleForm,
)
from imaging.retention.models import DestructionCertificate, ErasureRequest, LegalHold, RetentionRule
from imaging.retention.rules import expired_studies
from portal.decorators import tenant_action_required
from portal.paging import paged

manage_retention = tenant_action_required(policy.Action.MANAGE_RETENTION)
# Rows of each list on the page; the platform admin has the full history.
LISTED = 50


def _back(request: HttpRequest) -> HttpResponse:
    return redirect("retention", tenant_slug=request.tenant.slug)


def _role(request: HttpRequest) -> str:
    return request.membership.role


def _overview(request: HttpRequest, status: int = 200, **forms) -> HttpResponse:
    tenant = request.tenant
    expired, undated = expired_studies(tenant, timezone.localdate())
    due = [item for item in expired if not item.held]
    active_holds = list(
        LegalHold.objects.filter(released_at__isnull=True).select_related("patient", "study", "placed_by")
    )
    released_holds = list(
        LegalHold.objects.filter(released_at__isnull=False).select_related("patient", "released_by")[:LISTED]
    )
    pending = list(
        ErasureRequest.objects.filter(state=ErasureRequest.State.PENDING).select_related("requested_by")
    )
    decided = list(
        ErasureRequest.objects.exclude(state=ErasureRequest.State.PENDING).select_related(
            "requested_by", "decided_by"
        )[:LISTED]
    )
    # Identifiers of the clinic's studies and patients are on this page: reading it is audited.
    shown_studies = [item.study_instance_uid for item in due[:LISTED]] + [
        hold.study_instance_uid for hold in active_holds if hold.study_instance_uid
    ]
    audit.record_access(
        AuditAction.VIEW_STUDY_LIST,
        request=request,
        actor_role=_role(request),
        object_type="study",
        object_ids=shown_studies,
        details={
            "page": "retention",
            "held_patients": [str(hold.patient_id) for hold in active_holds if hold.patient_id],
        },
    )
    return render(
        request,
        "retention/overview.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "may_manage_clinic": policy.can(request.user, policy.Action.MANAGE_CLINIC, tenant),
            "rules": list(RetentionRule.objects.all()),
            "rule_form": forms.get("rule_form") or RetentionRuleForm(),
            "due": due[:LISTED],
            "due_count": len(due),
            "held_count": len(expired) - len(due),
            "undated_count": undated,
            "last_retention_destruction": DestructionCertificate.objects.filter(
                basis=DestructionCertificate.Basis.RETENTION
            ).first(),
            "active_holds": active_holds,
            "released_holds": released_holds,
            "hold_form": forms.get("hold_form") or LegalHoldForm(),
            "pending": pending,
            "decided": decided,
            "erasure_form": forms.get("erasure_form") or ErasureRequestForm(),
            "certificates": list(DestructionCertificate.objects.all()[:10]),
        },
        status=status,
    )


@manage_retention
@require_GET
@never_cache
def overview(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _overview(request)


# --- Rules ----------------------------------------------------------------------------------------------


def _show_rule_errors(form, refusal: rule_changes.RetentionRuleRefused) -> None:
    for field, error in refusal.errors.items():
        form.add_error(field if field in form.fields else None, error)


@manage_retention
@require_POST
def rule_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = RetentionRuleForm(request.POST)
    if form.is_valid():
        try:
            rule = rule_changes.add_rule(
                request.tenant, form.cleaned_data, request=request, actor_role=_role(request)
            )
        except rule_changes.RetentionRuleRefused as refusal:
            _show_rule_errors(form, refusal)
        else:
            messages.success(request, f"Rule added: {rule}.")
            return _back(request)
    return _overview(request, status=400, rule_form=form)


@manage_retention
@require_http_methods(["GET", "POST"])
@never_cache
def rule_edit(request: HttpRequest, tenant_slug: str, pk: int) -> HttpResponse:
    rule = get_object_or_404(RetentionRule.objects.all(), pk=pk)
    form = RetentionRuleForm(
        request.POST if request.method == "POST" else None,
        initial={field: getattr(rule, field) for field in rule_changes.RULE_FIELDS},
    )
    if form.is_bound and form.is_valid():
        try:
            changed = rule_changes.change_rule(
                rule, form.cleaned_data, request=request, actor_role=_role(request)
            )
        except rule_changes.RetentionRuleRefused as refusal:
            _show_rule_errors(form, refusal)
        else:
            messages.success(request, f"Rule saved: {rule}." if changed else "Nothing changed.")
            return _back(request)
    return render(
        request,
        "retention/rule_form.html",
        {"tenant": request.tenant, "membership": request.membership, "rule": rule, "form": form},
    )


@manage_retention
@require_POST
def rule_remove(request: HttpRequest, tenant_slug: str, pk: int) -> HttpResponse:
    rule = get_object_or_404(RetentionRule.objects.all(), pk=pk)
    described = str(rule)
    if rule_changes.remove_rule(rule, request=request, actor_role=_role(request)):
        messages.success(request, f"Rule removed: {described}.")
    else:
        messages.info(
            request,
            f"{described}: certificates of destruction cite this rule, so it was deactivated, not removed.",
        )
    return _back(request)


# --- Legal holds ----------------------------------------------------------------------------------------


def _patient_or_error(form: LegalHoldForm) -> Patient | None:
    patient_id, issuer = form.cleaned_data["patient_id"].strip(), form.cleaned_data["issuer"].strip()
    patients = Patient.objects.filter(patient_id=patient_id)
    if issuer:
        patients = patients.filter(issuer_of_patient_id=issuer)
    found = list(patients[:10])
    if not found:
        form.add_error("patient_id", f"No patient of this clinic has the ID {patient_id}.")
        return None
    if len(found) > 1:
        issuers = ", ".join(sorted(p.issuer_of_patient_id or "(none)" for p in found))
        form.add_error(
            "issuer", f"Several patients have the ID {patient_id} (issuers: {issuers}): give the issuer."
        )
        return None
    return found[0]


def _study_or_error(form, field: str = "study_uid") -> Study | None:
    uid = form.cleaned_data[field].strip()
    study = Study.objects.filter(study_instance_uid=uid).first()
    if study is None:
        form.add_error(field, f"No study of this clinic has the UID {uid}.")
    return study


@manage_retention
@require_POST
def hold_place(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = LegalHoldForm(request.POST)
    if form.is_valid():
        if form.cleaned_data["target"] == LegalHoldForm.PATIENT:
            target = {"patient": _patient_or_error(form)}
        else:
            target = {"study": _study_or_error(form)}
        if not form.errors:
            try:
                hold = holds.place_hold(
                    request.tenant, placed_by=request.user, reason=form.cleaned_data["reason"], **target
                )
            except holds.LegalHoldError as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(
                    request, f"{hold} placed: nothing destroys what it holds until it is released."
                )
                return _back(request)
    return _overview(request, status=400, hold_form=form)


@manage_retention
@require_POST
def hold_release(request: HttpRequest, tenant_slug: str, pk: int) -> HttpResponse:
    hold = get_object_or_404(LegalHold.objects.all(), pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Releasing legal hold {hold.pk} needs a reason.")
        return _back(request)
    try:
        holds.release_hold(hold, released_by=request.user, reason=form.cleaned_data["reason"])
    except holds.LegalHoldError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{hold} released.")
    return _back(request)


# --- Erasure requests -----------------------------------------------------------------------------------


@manage_retention
@require_POST
def erasure_request(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = ErasureRequestForm(request.POST)
    if form.is_valid():
        study = _study_or_error(form)
        if study is not None:
            try:
                asked = erasure.request_erasure(
                    study, requested_by=request.user, reason=form.cleaned_data["reason"]
                )
            except erasure.ErasureRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(
                    request,
                    f"Erasure request {asked.pk} made: another clinic admin approves or refuses it "
                    "(the clinic's only admin may approve it alone, with a reason).",
                )
                return _back(request)
    return _overview(request, status=400, erasure_form=form)


def _pending_request(pk: int) -> ErasureRequest:
    return get_object_or_404(ErasureRequest.objects.select_related("study", "requested_by"), pk=pk)


@manage_retention
@require_POST
def erasure_approve(request: HttpRequest, tenant_slug: str, pk: int) -> HttpResponse:
    asked = _pending_request(pk)
    form = ApprovalForm(request.POST)
    form.is_valid()  # the reason is optional; the service says when it is needed
    try:
        # Outside any transaction (the view is not atomic): the study key's shredding is durable before
        # any copy is deleted (imaging.retention.erasure).
        certificate = erasure.approve_erasure(
            asked, approved_by=request.user, reason=form.cleaned_data.get("reason", "")
        )
    except erasure.ErasureRefused as refusal:
        messages.error(request, str(refusal))
        return _back(request)
    messages.success(request, f"Study {certificate.study_instance_uid} destroyed; its certificate follows.")
    return redirect("retention-certificate", tenant_slug=request.tenant.slug, certificate_id=certificate.pk)


@manage_retention
@require_POST
def erasure_refuse(request: HttpRequest, tenant_slug: str, pk: int) -> HttpResponse:
    asked = _pending_request(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Refusing erasure request {asked.pk} needs a reason.")
        return _back(request)
    try:
        erasure.reject_erasure(asked, rejected_by=request.user, reason=form.cleaned_data["reason"])
    except erasure.ErasureRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"Erasure request {asked.pk} refused: the study is kept.")
    return _back(request)


# --- Certificates of destruction ------------------------------------------------------------------------


@manage_retention
@require_GET
@never_cache
def certificate_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return render(
        request,
        "retention/certificates.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "certificates": paged(request, DestructionCertificate.objects.all()),
        },
    )


@manage_retention
@require_GET
@never_cache
def certificate_detail(request: HttpRequest, tenant_slug: str, certificate_id) -> HttpResponse:
    certificate = (
        DestructionCertificate.objects.select_related("rule", "requested_by", "approved_by", "audit_event")
        .filter(pk=certificate_id)
        .first()
    )
    if certificate is None:
        raise Http404
    digest = erasure.certificate_digest(certificate)
    recorded = certificate.audit_event.details.get("certificate_sha256") if certificate.audit_event else None
    return render(
        request,
        "retention/certificate.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "certificate": certificate,
            "digest": digest,
            "matches_audit_trail": digest == recorded,
            "erasure_request": ErasureRequest.objects.filter(certificate=certificate).first(),
        },
    )
