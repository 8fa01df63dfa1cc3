"""The clinic's agreements page: what its jurisdiction requires, what is in force, the texts, history;
clinic admins accept there."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import policy
from accounts.policy import Action
from portal.agreements import selectors, services
from portal.agreements.forms import AcceptAgreementForm
from portal.decorators import tenant_member_required


def _form(kind: str, statuses: list[selectors.AgreementStatus], data=None) -> AcceptAgreementForm:
    published = [status for status in statuses if status.current is not None]
    current = {status.kind: status.current.sha256 for status in published}
    return AcceptAgreementForm(
        data,
        kinds=[(status.kind, status.label) for status in published],
        current_sha256=current,
        initial={"kind": kind, "sha256": current.get(kind, "")},
        # One form per kind on the page: element ids must not repeat.
        auto_id=f"id_{kind}_%s",
    )


@tenant_member_required
@require_http_methods(["GET", "POST"])
def agreements_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant
    may_accept = policy.can(request.user, Action.MANAGE_CLINIC, tenant)
    # Privacy officers read the agreements (they are evidence); only clinic admins sign them.
    if not (may_accept or policy.can(request.user, Action.VIEW_COMPLIANCE, tenant)):
        raise Http404
    statuses = selectors.agreement_statuses(tenant)
    forms = {status.kind: _form(status.kind, statuses) for status in statuses if status.current is not None}
    status_code = 200
    if request.method == "POST":
        if not may_accept:
            raise Http404
        kind = request.POST.get("kind", "")
        posted = _form(kind if kind in forms else "posted", statuses, data=request.POST)
        if posted.is_valid():
            kind = posted.cleaned_data["kind"]
            services.accept_current(
                tenant,
                signer=request.user,
                signer_name=posted.cleaned_data["signer_name"],
                signer_role=posted.cleaned_data["signer_role"],
                kinds=[kind],
                request=request,
            )
            label = next(status.label for status in statuses if status.kind == kind)
            messages.success(request, f"The {label} is accepted on behalf of {tenant.name}.")
            return redirect("agreements", tenant_slug=tenant.slug)
        if kind in forms:
            forms[kind] = posted
        status_code = 400
    rows = [{"status": status, "form": forms.get(status.kind)} for status in statuses]
    return render(
        request,
        "agreements/agreements.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "rows": rows,
            "may_accept": may_accept,
            "ingestion_refused": any(status.blocks_ingestion for status in statuses),
        },
        status=status_code,
    )
