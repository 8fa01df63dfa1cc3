import logging

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu.exceptions import OperationalError as BrokerError

import audit
from accounts import policy
from accounts.roles import Role
from audit.models import AuditAction
from imaging.models import Study
from portal import health, selectors
from portal.consents import selectors as consent_selectors
from portal.decorators import tenant_member_required
from portal.onboarding import selectors as onboarding_selectors
from portal.paging import paged
from portal.sharing import selectors as sharing_selectors
from portal.sharing import services as sharing_services
from portal.tasks import refresh_clinic_summary

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(request.user.memberships.select_related("tenant").filter(tenant__is_active=True))
    if memberships and all(m.role == Role.PATIENT for m in memberships) and not request.user.is_superuser:
        # A patient's page gathers their images from every clinic (portal.patients).
        return redirect("my-images")
    if len(memberships) == 1 and not request.user.is_superuser:
        return redirect("clinic-dashboard", tenant_slug=memberships[0].tenant.slug)
    return render(request, "portal/home.html", {"memberships": memberships})


@tenant_member_required
def clinic_dashboard(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    tenant = request.tenant
    # Newest first (Study.Meta.ordering), a page at a time: every study is reachable by the page links.
    studies = paged(request, policy.visible_studies(request.user, tenant))
    openable = policy.openable_ids(request.user, tenant, studies.page)
    audit.record_access(
        AuditAction.VIEW_STUDY_LIST,
        request=request,
        actor_role=request.membership.role,
        object_type="study",
        object_ids=[study.study_instance_uid for study in studies.page],
    )
    summary = selectors.clinic_summary(tenant)
    if selectors.summary_is_stale(summary):
        try:
            refresh_clinic_summary.delay(tenant.pk)
        except BrokerError:
            logger.warning("Broker unreachable; clinic summary of tenant %s not refreshed", tenant.pk)
    return render(
        request,
        "portal/dashboard.html",
        {
            "tenant": tenant,
            "membership": request.membership,
            "studies": studies,
            "rows": [(study, study.pk in openable) for study in studies.page],
            "summary": summary,
            "heartbeat": selectors.latest_worker_heartbeat(),
            "worker_alive": selectors.worker_is_alive(),
            "may_upload": policy.can(request.user, policy.Action.STORE_INSTANCES, tenant),
            "may_follow_ingestion": policy.can(request.user, policy.Action.VIEW_INGEST_JOBS, tenant),
            "clinic_settings_url": reverse("clinic-settings", args=[tenant.slug])
            if policy.can(request.user, policy.Action.MANAGE_CLINIC, tenant)
            else None,
            # Until go-live, clinic admins see how many set-up steps are left (portal.onboarding).
            "onboarding_banner": onboarding_selectors.dashboard_banner(
                tenant, may_manage=policy.can(request.user, policy.Action.MANAGE_CLINIC, tenant)
            ),
        },
    )


@tenant_member_required
def study_detail(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("patient"), study_instance_uid=study_uid)
    if not policy.can(request.user, policy.Action.VIEW_STUDY, study):
        raise Http404
    audit.record_access(
        AuditAction.VIEW_STUDY,
        request=request,
        actor_role=request.membership.role,
        object_type="study",
        object_ids=[study.study_instance_uid],
    )
    # Opened: no longer "new" on the doctor's worklist.
    sharing_services.mark_shares_seen(request.user, study)
    access = sharing_selectors.access_panel(request.user, study)
    return render(
        request,
        "portal/study_detail.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "study": study,
            "series": study.series.all(),
            "access": access,
            "shared_with_me": sharing_selectors.shares_with(request.user, study),
            "share_links": access.links if access is not None else [],
            "share_link_routes": _share_link_routes_exist(request.tenant.slug, study.study_instance_uid),
            "consents": consent_selectors.consent_summary(study.patient)
            if policy.can(request.user, policy.Action.VIEW_CONSENTS, study)
            else None,
            "may_record_consent": policy.can(request.user, policy.Action.MANAGE_CONSENTS, request.tenant),
            "may_download": policy.can(request.user, policy.Action.DOWNLOAD_STUDY, study),
        },
    )


def _share_link_routes_exist(tenant_slug: str, study_uid: str) -> bool:
    """Whether the share link pages (portal.sharing.links) are installed, so that the study page links to
    them only once they are."""
    try:
        reverse("share-link-new", kwargs={"tenant_slug": tenant_slug, "study_uid": study_uid})
        reverse("share-link-detail", kwargs={"tenant_slug": tenant_slug, "link_id": 1})
    except NoReverseMatch:
        return False
    return True


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database, the broker, every storage region and the key provider answer, each
    within its time limit (portal/health.py; docs/operations.md). The worker's heartbeat is reported,
    not required, so that a web node stays in rotation while workers restart."""
    checks = health.run_checks(health.readiness_checks())
    ready = all(value == health.OK for value in checks.values())
    if checks["database"] == health.OK:
        try:
            checks["worker"] = "ok" if selectors.worker_is_alive() else "no recent heartbeat"
        except Exception as exc:  # reported, never required
            checks["worker"] = f"unknown ({type(exc).__name__})"
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
