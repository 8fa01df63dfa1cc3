"""The second-factor step of signing in, and the account security page where a user adds and removes
their second factors (docs/authentication.md, "Second factor")."""

from math import ceil
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.mfa import selectors, services, sessions
from accounts.mfa.forms import CodeForm
from accounts.mfa.selectors import DeviceKind
from accounts.mfa.totp import provisioning

PENDING_TOTP_SESSION_KEY = "palisade_mfa_pending_totp"
WRONG_CODE = "That code is not valid. Check the time on your phone, or use a backup code."


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _refusal(form: CodeForm, result: services.Verification) -> int:
    """Puts the reason on the form; returns the status of the page."""
    if result.throttled_until is not None:
        wait = max(1, ceil((result.throttled_until - timezone.now()).total_seconds()))
        form.add_error("code", f"Too many wrong codes. Wait {wait} seconds, then try again.")
        return 429
    form.add_error("code", WRONG_CODE)
    return 200


def _confirm_it_is_you(request: HttpRequest) -> HttpResponse:
    messages.info(request, "Confirm it's you with a second factor first, then try again.")
    return redirect(_with_next(reverse("mfa:verify"), reverse("mfa:security")))


@never_cache
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in (and the fresh proof asked before removing a factor)."""
    next_url = _next_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL)
    kinds = {selectors.device_kind(device) for device in selectors.second_factors(request.user)}
    if not kinds:
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = services.verify_code(request, form.cleaned_data["code"])
        if result.ok:
            return redirect(next_url)
        status = _refusal(form, result)
    context = {
        "form": form,
        "next": next_url,
        "accepts_codes": bool(kinds & {DeviceKind.TOTP, DeviceKind.BACKUP_CODES}),
        "accepts_passkey": DeviceKind.PASSKEY in kinds,
    }
    return render(request, "mfa/verify.html", context, status=status)


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    user = request.user
    devices = selectors.second_factors(user)
    backup_codes = selectors.backup_codes_of(user)
    required = selectors.mfa_required(user)
    return render(
        request,
        "mfa/security.html",
        {
            "devices": [(device, selectors.device_kind(device)) for device in devices],
            "must_enrol": required and not devices,
            "required": required,
            "has_primary": selectors.primary_factor_count(user) > 0,
            "backup_codes_left": backup_codes.remaining() if backup_codes else None,
            "next": _next_url(request),
        },
    )


@never_cache
@login_required
def add_totp(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    device = services.pending_totp_device(request.user, request.session.get(PENDING_TOTP_SESSION_KEY))
    request.session[PENDING_TOTP_SESSION_KEY] = device.pk
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = services.confirm_totp_device(request, device, form.cleaned_data["code"])
        if result.ok:
            request.session.pop(PENDING_TOTP_SESSION_KEY, None)
            messages.success(request, "Authenticator app added.")
            return redirect(_with_next(reverse("mfa:security"), next_url))
        status = _refusal(form, result)
    context = {"form": form, "next": next_url, "provisioning": provisioning(device)}
    return render(request, "mfa/add_totp.html", context, status=status)


@never_cache
@login_required
def add_passkey(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    return render(
        request,
        "mfa/add_passkey.html",
        {"next": next_url, "done_url": _with_next(reverse("mfa:security"), next_url)},
    )


@never_cache
@login_required
@require_POST
def backup_codes(request: HttpRequest) -> HttpResponse:
    """New backup codes, shown on this one response and never again."""
    if not sessions.recently_verified(request):
        return _confirm_it_is_you(request)
    try:
        codes = services.issue_backup_codes(request)
    except services.SecondFactorRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("mfa:security")
    next_url = _next_url(request)
    return render(
        request,
        "mfa/backup_codes.html",
        {"codes": codes, "done_url": _with_next(reverse("mfa:security"), next_url)},
    )


@never_cache
@login_required
@require_POST
def remove_device(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    try:
        device_kind = DeviceKind(kind)
    except ValueError:
        raise Http404 from None
    device = get_object_or_404(selectors.DEVICE_MODELS[device_kind], user=request.user, pk=pk, confirmed=True)
    if not sessions.recently_verified(request):
        return _confirm_it_is_you(request)
    try:
        services.remove_device(request, device)
    except services.SecondFactorRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{device_kind.label} removed.")
    return redirect("mfa:security")
