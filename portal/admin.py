from django.contrib import admin

from accounts.models import Membership
from audit.admin import AuditedAdminMixin
from imaging.replication.selectors import replication_status
from imaging.replication.templatetags.replication_tags import lag_text, residency_line
from portal import regions
from portal.models import ClinicSummary, Tenant, WorkerHeartbeat
from portal.tenancy import tenant_scope


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "ae_title",
        "home_region",
        "jurisdiction",
        "replication_lag",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "home_region"]
    search_fields = ["name", "slug", "ae_title"]
    readonly_fields = ["residency", "replication"]
    inlines = [MembershipInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # Tenant.clean refuses a replica outside the home jurisdiction (portal.regions.validate_residency).
        form.base_fields["replica_regions"].help_text = (
            "A JSON list of regions in the home region's jurisdiction: "
            + ", ".join(
                f"{region} ({regions.jurisdiction_of(region)})" for region in regions.configured_regions()
            )
        )
        return form

    @admin.display(description="Residency")
    def residency(self, tenant: Tenant) -> str:
        return residency_line(tenant) if tenant.pk else "—"

    @admin.display(description="Replication")
    def replication(self, tenant: Tenant) -> str:
        if not tenant.pk or not tenant.replica_regions:
            return "No replica regions"
        with tenant_scope(tenant):
            status = replication_status(tenant)
        return (
            f"lag (RPO) {lag_text(status.lag)}; {status.ok} copies made, {status.pending} waiting, "
            f"{status.failed} failed or damaged"
        )

    @admin.display(description="Replication lag")
    def replication_lag(self, tenant: Tenant) -> str:
        if not tenant.replica_regions:
            return "—"
        with tenant_scope(tenant):
            return lag_text(replication_status(tenant).lag)


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
