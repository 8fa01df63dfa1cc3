"""The clinic's audit review page and its CSV export (privacy officers and clinic admins), and a patient's
access history. Reading the trail is itself audited (AUDIT_VIEWED, AUDIT_EXPORTED), with the filter
used as identifiers only.
"""

from dataclasses import replace

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

import audit
from accounts import policy
from audit.models import AuditAction
from audit.review.access_history import access_history, names_shown
from audit.review.csv_export import csv_response
from audit.review.forms import AuditFilterForm
from audit.review.labels import action_label, outcome_label, role_label
from audit.review.selectors import (
    EventFilter,
    filter_for_audit,
    filter_object_ids,
    filtered_events,
    newest_event_id,
)
from portal.decorators import tenant_action_required, tenant_member_required

EVENTS_PER_PAGE = 50
# Identifiers shown per event on the page; the CSV export has them all.
IDS_SHOWN = 5


def _audit_reading(request: HttpRequest, action: AuditAction, wanted: EventFilter, **details) -> None:
    audit.record(
        action,
        request=request,
        actor_role=request.membership.role,
        object_type="audit_event",
        object_ids=filter_object_ids(wanted),
        details={"filter": filter_for_audit(wanted), **details},
    )


@tenant_action_required(policy.Action.VIEW_AUDIT)
@require_GET
@never_cache
def audit_review(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page, rows, query = None, [], ""
    if form.is_valid():
        wanted = form.event_filter()
        if wanted.upto is None:
            wanted = replace(wanted, upto=newest_event_id(request.tenant))
        paginator = Paginator(filtered_events(request.tenant, wanted), EVENTS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        rows = [_review_row(event) for event in page]
        _audit_reading(request, AuditAction.AUDIT_VIEWED, wanted, page=page.number)
        params = request.GET.copy()
        params.pop("page", None)
        params["upto"] = str(wanted.upto)
        query = params.urlencode()
    return render(
        request,
        "audit/review.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "form": form,
            "page": page,
            "rows": rows,
            "query": query,
        },
    )


def _review_row(event) -> dict:
    ids = [str(value) for value in event.object_ids]
    return {
        "event": event,
        "action": action_label(event.action),
        "outcome": outcome_label(event.outcome),
        "actor": event.actor.email if event.actor_id else _actor_without_account(event),
        "role": role_label(event.actor_role) if event.actor_role else "",
        "ids": ids[:IDS_SHOWN],
        "more_ids": max(len(ids) - IDS_SHOWN, 0),
        # A WADO-RS retrieval names instances; the study they belong to says more to a reviewer.
        "study": event.details.get("study") if isinstance(event.details.get("study"), str) else "",
    }


def _actor_without_account(event) -> str:
    details = event.details
    if details.get("share_link") is not None:
        return f"Share link #{details['share_link']}"
    if details.get("calling_ae"):
        return f"AE {details['calling_ae']}"
    return ""


@tenant_action_required(policy.Action.VIEW_AUDIT)
@require_GET
def audit_export_csv(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        reasons = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"The filter is not valid ({reasons}).", content_type="text/plain")
    wanted = form.event_filter()
    if wanted.upto is None:
        # Not the export's own event, recorded before the body is read.
        wanted = replace(wanted, upto=newest_event_id(request.tenant))
    events = filtered_events(request.tenant, wanted)
    _audit_reading(request, AuditAction.AUDIT_EXPORTED, wanted, format="csv")
    filename = f"audit-{request.tenant.slug}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return csv_response(request, events, filename)


@tenant_member_required
@require_GET
@never_cache
def patient_access_history(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    if not policy.can(request.user, policy.Action.VIEW_OWN_ACCESS_HISTORY, request.tenant):
        raise Http404
    try:
        number = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        number = 1
    history = access_history(request.user, request.tenant, page=number)
    audit.record(
        AuditAction.AUDIT_VIEWED,
        request=request,
        actor_role=request.membership.role,
        object_type="patient",
        object_ids=history.patient_ids,
        details={"page": "access_history", "number": number},
    )
    return render(
        request,
        "audit/access_history.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "history": history,
            "names_shown": names_shown(request.tenant),
        },
    )
