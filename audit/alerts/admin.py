"""The platform operators' view of alerts: every clinic's and the platform's own, acknowledged here
for the platform's; and the alert rules of each clinic and of the platform (its webhook, its failed
sign-in threshold)."""

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest

from audit.admin import AuditedAdminMixin
from audit.alerts import services
from audit.alerts.models import Alert, AlertRules
from portal.admin_site import ReadOnlyAdminMixin

# The break-the-glass grants behind the break-glass alerts, listed beside them (read-only).
from portal.sharing import break_glass_admin  # noqa: F401


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "severity",
        "kind",
        "summary",
        "tenant",
        "count",
        "acknowledged_at",
        "email_status",
        "webhook_status",
    ]
    list_filter = ["kind", "severity", "tenant", ("acknowledged_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "created_at"
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request: HttpRequest, queryset) -> None:
        done = sum(
            services.acknowledge(alert, by=request.user, request=request, actor_role="platform_operator")
            for alert in queryset.filter(acknowledged_at__isnull=True)
        )
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(AlertRules)
class AlertRulesAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "failed_sign_ins_threshold", "failed_sign_ins_window_minutes", "webhook_url"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    search_fields = ["tenant__name", "tenant__slug"]
