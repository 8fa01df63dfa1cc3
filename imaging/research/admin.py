"""Research rows for platform operators, read-only: clinics change them on their research pages, which
audit each change. No sealed value (pseudonym key, bearer token, archive key) is ever shown."""

from django.contrib import admin

from imaging.research.models import DeviceMask, ResearchExport, ResearchProject
from portal.admin_site import ReadOnlyAdminMixin


@admin.register(ResearchProject)
class ResearchProjectAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "destination", "destination_tenant", "burned_in", "updated_at"]
    list_filter = ["tenant", "destination"]
    list_select_related = ["tenant", "destination_tenant"]
    fields = [
        "id",
        "tenant",
        "name",
        "purpose",
        "recipients",
        "options",
        "safe_private",
        "burned_in",
        "destination",
        "destination_tenant",
        "stow_url",
        "has_stow_token",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(boolean=True, description="Bearer token stored")
    def has_stow_token(self, project: ResearchProject) -> bool:
        return project.has_stow_token


@admin.register(ResearchExport)
class ResearchExportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "tenant", "project", "state", "progress_done", "progress_total", "created_at"]
    list_filter = ["tenant", "state"]
    list_select_related = ["tenant", "project"]
    fields = [
        "id",
        "tenant",
        "project",
        "state",
        "progress_done",
        "progress_total",
        "report",
        "error",
        "created_by",
        "created_at",
        "finished_at",
        "archive_size",
        "expires_at",
        "downloaded_count",
    ]
    readonly_fields = fields


@admin.register(DeviceMask)
class DeviceMaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["manufacturer", "model", "tenant", "rows", "columns", "flagged"]
    list_filter = ["tenant", "flagged"]
    list_select_related = ["tenant"]
    fields = ["tenant", "manufacturer", "model", "rows", "columns", "rectangles", "flagged", "created_at"]
    readonly_fields = fields
