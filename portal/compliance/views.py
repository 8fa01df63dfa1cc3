"""The compliance report (HTML and PDF) for those who answer to auditors, and the transparency page
for every member of the clinic, patients included."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

import audit
from accounts import policy
from audit.models import AuditAction
from portal.compliance import charts, evidence
from portal.compliance.pdf import render_pdf
from portal.compliance.safeguards import safeguards
from portal.compliance.transparency import transparency
from portal.decorators import tenant_action_required


def _report_context(request: HttpRequest) -> dict:
    tenant, now = request.tenant, timezone.now()
    figures = evidence.collect(tenant, now)
    ingestion = charts.ingestion_per_day(tenant, now)
    access = charts.access_per_role(tenant, now)
    return {
        "tenant": tenant,
        "membership": request.membership,
        "ev": figures,
        "safeguards": safeguards(figures),
        "ingestion": ingestion,
        "access": access,
        "charts": {
            "ingestion": charts.ingestion_chart(ingestion),
            "storage": charts.storage_chart(figures.storage),
            "access": charts.access_chart(access),
        },
    }


def _record_view(request: HttpRequest, context: dict, kind: str) -> None:
    # Statuses only: which safeguards stood where when the report was read, or printed.
    audit.record(
        AuditAction.COMPLIANCE_REPORT_VIEWED,
        request=request,
        actor_role=request.membership.role,
        object_type="tenant",
        object_ids=[request.tenant.slug],
        details={"format": kind, "statuses": {item.key: item.status.value for item in context["safeguards"]}},
    )


@tenant_action_required(policy.Action.VIEW_COMPLIANCE)
@require_GET
@never_cache
def compliance_report(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    context = _report_context(request)
    _record_view(request, context, "html")
    return render(request, "compliance/report.html", {**context, "base_template": "base.html"})


@tenant_action_required(policy.Action.VIEW_COMPLIANCE)
@require_GET
@never_cache
def compliance_report_pdf(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    context = _report_context(request)
    html = render_to_string(
        "compliance/report.html", {**context, "base_template": "compliance/print.html", "pdf": True}, request
    )
    pdf = render_pdf(html)
    _record_view(request, context, "pdf")
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"compliance-{request.tenant.slug}-{context['ev'].now:%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@tenant_action_required(policy.Action.VIEW_TRANSPARENCY)
@require_GET
def transparency_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    # Configuration, not PHI: not audited (docs/compliance.md).
    return render(
        request,
        "compliance/transparency.html",
        {"tenant": request.tenant, "membership": request.membership, "info": transparency(request.tenant)},
    )
