"""Consent pages: the patient's own consents across their clinics, the clinic admin's texts and
settings, and a paper form recorded from the study page. Each parses the request, asks accounts.policy,
and calls portal.consents.services or .selectors. What the user may not touch answers 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import policy
from imaging.models import Study
from portal.consents import selectors, services
from portal.consents.forms import GRANT, DecisionForm, PublishTextForm, RequirementsForm
from portal.consents.models import ConsentPurpose, ConsentText
from portal.decorators import tenant_action_required


def _decide(request: HttpRequest, patient, data: dict, note: str = "") -> None:
    """Record the decision of a DecisionForm, by the patient or from a signed paper form, and tell the
    user what happened."""
    grant = data["decision"] == GRANT
    try:
        services.decide(
            patient=patient,
            purpose=data["purpose"],
            grant=grant,
            version=data["version"],
            actor=request.user,
            request=request,
        )
    except services.ConsentRefused as refusal:
        messages.error(request, str(refusal))
        return
    label = ConsentPurpose(data["purpose"]).label
    label = label[0].lower() + label[1:]
    messages.success(request, f"Consent to “{label}” {'given' if grant else 'withdrawn'}.{note}")


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def my_consents(request: HttpRequest) -> HttpResponse:
    records = selectors.patient_records_of(request.user)
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if not form.is_valid():
            raise Http404
        data = form.cleaned_data
        # Only the user's own records were loaded: any other patient is, to them, one that does not exist.
        record = next((record for record in records if record.patient.pk == data["patient"]), None)
        if record is None:
            raise Http404
        _decide(request, record.patient, data)
        return redirect("my-consents")
    return render(request, "consents/my_consents.html", {"records": records})


def _clinic_page(request: HttpRequest, publish_form: PublishTextForm, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    texts = list(ConsentText.objects.select_related("published_by").order_by("purpose", "-version"))
    purposes = [
        {
            "value": purpose.value,
            "label": purpose.label,
            "versions": [text for text in texts if text.purpose == purpose.value],
            "consenting": selectors.consented_patients(purpose.value).count(),
        }
        for purpose in ConsentPurpose
    ]
    requirement = selectors.requirement(tenant)
    return render(
        request,
        "consents/clinic_consents.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "purposes": purposes,
            "publish_form": publish_form,
            "requirements_form": RequirementsForm(
                initial={"sharing_requires_consent": requirement.sharing_requires_consent}
            ),
        },
        status=status,
    )


@tenant_action_required(policy.Action.MANAGE_CONSENTS)
@require_http_methods(["GET", "POST"])
@never_cache
def clinic_consents(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    if request.method != "POST":
        return _clinic_page(request, PublishTextForm())
    form = PublishTextForm(request.POST)
    if form.is_valid():
        try:
            text = services.publish_text(
                tenant=request.tenant,
                purpose=form.cleaned_data["purpose"],
                text=form.cleaned_data["text"],
                actor=request.user,
                request=request,
            )
        except services.ConsentRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, f"Version {text.version} of “{text.get_purpose_display()}” published.")
            return redirect("clinic-consents", tenant_slug=request.tenant.slug)
    return _clinic_page(request, form, status=400)


@tenant_action_required(policy.Action.MANAGE_CONSENTS)
@require_POST
def clinic_consent_requirements(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = RequirementsForm(request.POST)
    form.is_valid()  # A missing checkbox is "off": the form cannot be invalid.
    services.set_requirements(
        tenant=request.tenant,
        sharing_requires_consent=form.cleaned_data.get("sharing_requires_consent", False),
        actor=request.user,
        request=request,
    )
    messages.success(request, "Consent settings saved.")
    return redirect("clinic-consents", tenant_slug=request.tenant.slug)


@tenant_action_required(policy.Action.MANAGE_CONSENTS)
@require_POST
def record_paper_consent(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    """A clinic admin records the decision of a signed paper form, from the patient's study page."""
    study = get_object_or_404(Study.objects.select_related("patient", "tenant"), study_instance_uid=study_uid)
    if not policy.can(request.user, policy.Action.VIEW_STUDY, study):
        raise Http404
    form = DecisionForm(request.POST)
    if not form.is_valid() or form.cleaned_data["patient"] != study.patient_id:
        raise Http404
    _decide(request, study.patient, form.cleaned_data, note=" (signed form recorded)")
    return redirect("study-detail", tenant_slug=request.tenant.slug, study_uid=study.study_instance_uid)
