from django.contrib import admin

from accounts.models import Membership
from audit.admin import AuditedAdminMixin
from portal.models import ClinicSummary, Tenant, WorkerHeartbeat


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "ae_title", "home_region", "jurisdiction", "is_active", "created_at"]
    list_filter = ["is_active", "home_region"]
    search_fields = ["name", "slug", "ae_title"]
    inlines = [MembershipInline]


@admin.register(ClinicSummary)
class ClinicSummaryAdmin(admin.ModelAdmin):
    list_display = ["tenant", "patients", "studies", "instances", "refreshed_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at"]
