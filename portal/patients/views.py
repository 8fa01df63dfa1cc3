"""Patient onboarding and "My images". The views parse, call portal.patients.services or selectors, and
render; the rules live there. The pages that show or take an access code are never cached and send no
Referer."""

from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

import audit
from accounts import policy
from accounts.mfa.sessions import forget_second_factor_optional
from accounts.models import User
from accounts.roles import Role
from accounts.sessions.services import client_address
from audit.models import AuditAction
from imaging.models import Study
from portal.decorators import private_page, tenant_action_required
from portal.paging import paged
from portal.patients import codes, selectors, services
from portal.patients.forms import IssueAccessCodeForm, JoinForm
from portal.patients.services import CodeState, IssueRefused, JoinRefused, NewAccount
from portal.sharing.links.csrf import no_referrer_csrf_protect

# One answer for an unknown code and a wrong date of birth, so that neither is learnt from the other.
NO_MATCH = "This code and date of birth do not match our records. Check both and try again."
_REFUSALS = {
    "no_match": NO_MATCH,
    CodeState.EXPIRED: "This code has expired. Ask your clinic for a new one.",
    CodeState.USED: "This code has already been used. Sign in with the account made with it.",
    CodeState.REVOKED: "This code was replaced by a newer one. Use the newest code your clinic gave you.",
    CodeState.LOCKED: "This code is locked after too many wrong answers. Ask your clinic for a new one.",
}


# --- Clinic staff: issuing a code -----------------------------------------------------------------------


@private_page
@csrf_exempt  # the page is no-referrer, so its form posts with `Origin: null`: checked by the next one
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
@tenant_action_required(policy.Action.ISSUE_ACCESS_CODE)
def issue_access_code(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    """A code for the patient of this study: printed (the code is shown on this response, once) or
    e-mailed by a task."""
    study = get_object_or_404(Study.objects.select_related("patient"), study_instance_uid=study_uid)
    if not policy.can(request.user, policy.Action.VIEW_STUDY, study):
        raise Http404
    context = {"tenant": request.tenant, "membership": request.membership, "study": study}
    form = IssueAccessCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            code, plain = services.issue_code(
                patient=study.patient,
                issued_by=request.user,
                request=request,
                actor_role=request.membership.role,
                email=form.cleaned_data["email"],
                lifetime=form.lifetime,
            )
        except IssueRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return render(
                request,
                "patients/access_code_sheet.html",
                context
                | {
                    "code": code,
                    "plain": codes.grouped(plain) if plain else "",
                    "join_url": request.build_absolute_uri(reverse("patient-join")),
                },
            )
    return render(request, "patients/access_code_form.html", context | {"form": form})


# --- The patient: joining -------------------------------------------------------------------------------


@private_page
@csrf_exempt  # the page is no-referrer, so its form posts with `Origin: null`: checked by the next one
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponse:
    signed_in = request.user.is_authenticated
    form = JoinForm(request.POST or None, signed_in=signed_in)
    if request.method != "POST":
        return _join_page(request, form)
    if services.guesses_exhausted(client_address(request)):
        services.record_throttled(request)
        minutes = int(services.GUESS_WINDOW.total_seconds() // 60)
        form.add_error(None, f"Too many attempts came from your network. Try again in {minutes} minutes.")
        response = _join_page(request, form, status=429)
        response["Retry-After"] = str(minutes * 60)
        return response
    if not form.is_valid():
        return _join_page(request, form)
    data = form.cleaned_data
    check = services.check_code(data["code"], data["birth_date"], request=request)
    if check.code is None:
        form.add_error(None, _REFUSALS[check.refusal])
        return _join_page(request, form)
    account = request.user if signed_in else _account_of(request, form)
    if account is None:
        return _join_page(request, form)
    try:
        user = services.join(check.code, account, request=request)
    except JoinRefused as refusal:
        form.add_error(None, str(refusal))
        return _join_page(request, form)
    if not signed_in:
        login(request, user, backend=getattr(user, "backend", "django.contrib.auth.backends.ModelBackend"))
    # The new clinic may require a second factor of its patients: let the middleware (accounts/mfa) ask
    # again now rather than when the remembered "optional" runs out.
    forget_second_factor_optional(request)
    return redirect("my-images")


def _account_of(request: HttpRequest, form: JoinForm) -> User | NewAccount | None:
    """The existing account of the e-mail given, when its password is right; or a new account to make,
    when the password meets the policy. None (with the form's errors set) otherwise. Asked only once the
    code and date of birth were right, so the page tells whether an address has an account only to the
    holder of a valid code."""
    data = form.cleaned_data
    if User.objects.filter(email__iexact=data["email"]).exists():
        # Through the sign-in backends: the sign-in lockout (accounts/lockout.py) counts these too.
        user = authenticate(request, username=data["email"], password=data["password"])
        if user is None:
            form.add_error(
                "password",
                "An account with this e-mail address already exists, and this is not its password. Enter "
                "its password to add this clinic to it, or sign in first.",
            )
        return user
    try:
        validate_password(data["password"], User(email=data["email"], full_name=data.get("full_name", "")))
    except ValidationError as errors:
        form.add_error("password", errors)
        return None
    return NewAccount(email=data["email"], password=data["password"], full_name=data.get("full_name", ""))


def _join_page(request: HttpRequest, form: JoinForm, status: int = 200) -> HttpResponse:
    return render(request, "patients/join.html", {"form": form}, status=status)


# --- The patient: my images -----------------------------------------------------------------------------


@require_safe
@login_required
def my_images(request: HttpRequest) -> HttpResponse:
    # Each clinic's list has page links of its own, so that paging through one leaves the others be.
    clinics = selectors.studies_by_clinic(
        request.user, lambda tenant, studies: paged(request, studies, param=f"page-{tenant.slug}")
    )
    sections = []
    for clinic in clinics:
        audit.record_access(
            AuditAction.VIEW_STUDY_LIST,
            request=request,
            tenant=clinic.tenant,
            actor_role=Role.PATIENT,
            object_type="study",
            object_ids=[study.study_instance_uid for study in clinic.studies.page],
            details={"page": "my_images"},
        )
        slug = clinic.tenant.slug
        sections.append(
            {
                "tenant": clinic.tenant,
                "access_history": _optional_url("access-history", tenant_slug=slug),
                "studies": clinic.studies,
                "rows": [(study, _study_links(slug, study)) for study in clinic.studies.page],
            }
        )
    return render(
        request,
        "patients/my_images.html",
        {"sections": sections, "consents_url": _optional_url("my-consents")},
    )


def _study_links(tenant_slug: str, study: Study) -> dict[str, str]:
    uid = study.study_instance_uid
    viewer = reverse("viewer-route", kwargs={"tenant_slug": tenant_slug, "route": "viewer"})
    return {
        "viewer": f"{viewer}?StudyInstanceUIDs={uid}",
        "thumbnail": reverse(
            "dicomweb-wado-study-thumbnail", kwargs={"tenant_slug": tenant_slug, "study_uid": uid}
        )
        if study.number_of_instances
        else "",
        "light_viewer": _optional_url("mobile-viewer", tenant_slug=tenant_slug, study_uid=uid),
        "download": _optional_url("study-download", tenant_slug=tenant_slug, study_uid=uid),
    }


def _optional_url(name: str, **kwargs: str) -> str:
    """The URL of a page another part of the portal provides, or "" while it is not installed."""
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return ""
