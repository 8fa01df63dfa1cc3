"""Break-the-glass grants in the platform admin, read-only. Registered through audit/alerts/admin.py."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from portal.admin_site import ReadOnlyAdminMixin
from portal.sharing.models import BreakGlassGrant


class ActiveGrantFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset):
        if self.value() == "active":
            return queryset.filter(expires_at__gt=timezone.now())
        if self.value() == "ended":
            return queryset.filter(expires_at__lte=timezone.now())
        return queryset


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every clinic's emergency accesses, by identifiers. The stated reason may describe the patient:
    the clinic's privacy officers read it on their alerts page; it is not shown here."""

    list_display = ["id", "tenant", "user", "study_uid", "granted_at", "expires_at", "active"]
    list_filter = [ActiveGrantFilter, "tenant"]
    list_select_related = ["tenant", "user", "study"]
    search_fields = ["user__email", "study__study_instance_uid"]
    date_hierarchy = "granted_at"
    fields = ["tenant", "user", "study_uid", "granted_at", "expires_at", "active"]
    readonly_fields = fields

    @admin.display(description="Study Instance UID")
    def study_uid(self, grant: BreakGlassGrant) -> str:
        return grant.study.study_instance_uid

    @admin.display(boolean=True)
    def active(self, grant: BreakGlassGrant) -> bool:
        return grant.is_active()
