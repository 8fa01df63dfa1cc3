"""The alerts page of a clinic's privacy officers, and its alert settings for the clinic's admins."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import audit
from accounts import policy
from audit.alerts import services
from audit.alerts.forms import AlertRulesForm
from audit.alerts.models import Alert
from audit.models import AuditAction
from portal.decorators import tenant_action_required
from portal.sharing.break_glass import grants_by_id

PAGE_SIZE = 50


@tenant_action_required(policy.Action.VIEW_AUDIT)
@require_GET
@never_cache
def alert_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    show_all = request.GET.get("show") == "all"
    alerts = Alert.objects.select_related("subject_user", "acknowledged_by")
    if not show_all:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    # Reading alerts is reading the audit trail: it is audited too.
    audit.record(
        AuditAction.AUDIT_VIEWED,
        request=request,
        actor_role=request.membership.role,
        object_type="alert",
        object_ids=[str(alert.pk) for alert in shown],
        details={"page": "alerts", "show": "all" if show_all else "open"},
    )
    grants = grants_by_id(services.break_glass_grant_ids(shown))
    rows = [
        {
            "alert": alert,
            "grants": [grants[int(pk)] for pk in alert.details.get("grants", []) if int(pk) in grants],
        }
        for alert in shown
    ]
    return render(
        request,
        "alerts/alert_list.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "rows": rows,
            "page": page,
            "show_all": show_all,
            "may_manage": policy.can(request.user, policy.Action.MANAGE_ALERT_RULES, request.tenant),
        },
    )


@tenant_action_required(policy.Action.VIEW_AUDIT)
@require_POST
def acknowledge_alert(request: HttpRequest, tenant_slug: str, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.all(), pk=alert_id)
    if services.acknowledge(alert, by=request.user, request=request, actor_role=request.membership.role):
        messages.success(request, f"Alert #{alert.pk} acknowledged.")
    else:
        messages.info(request, f"Alert #{alert.pk} was already acknowledged.")
    return redirect("alerts", tenant_slug=request.tenant.slug)


@tenant_action_required(policy.Action.MANAGE_ALERT_RULES)
@require_http_methods(["GET", "POST"])
@never_cache
def alert_settings(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    rules = services.rules_of(request.tenant)
    form = AlertRulesForm(request.POST or None, instance=rules)
    if request.method == "POST" and form.is_valid():
        services.save_rules(
            form.save(commit=False),
            [name for name in form.changed_data if name != "new_webhook_secret"],
            new_secret=form.cleaned_data["new_webhook_secret"],
            request=request,
            actor_role=request.membership.role,
        )
        messages.success(request, "Alert settings saved.")
        return redirect("alert-settings", tenant_slug=request.tenant.slug)
    return render(
        request,
        "alerts/alert_settings.html",
        {"tenant": request.tenant, "membership": request.membership, "form": form, "rules": rules},
    )
