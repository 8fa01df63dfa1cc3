from django.contrib import admin

from portal.admin_site import ReadOnlyAdminMixin
from portal.consents.models import ConsentDecision, ConsentRequirement, ConsentText


@admin.register(ConsentText)
class ConsentTextAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every clinic's published consent texts, read-only: clinics publish them on their consents page."""

    list_display = ["id", "tenant", "purpose", "version", "published_at", "published_by"]
    list_filter = ["tenant", "purpose"]
    list_select_related = ["tenant", "published_by"]
    fields = ["tenant", "purpose", "version", "text", "published_at", "published_by"]
    readonly_fields = fields


@admin.register(ConsentDecision)
class ConsentDecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Patients' decisions, read-only and by identifiers (no patient's details)."""

    list_display = [
        "id",
        "tenant",
        "patient_id",
        "purpose",
        "text_version",
        "granted",
        "decided_at",
        "withdrawn_at",
    ]
    list_filter = ["tenant", "purpose", "granted"]
    list_select_related = ["tenant", "text"]
    fields = [
        "tenant",
        "patient_id",
        "purpose",
        "text_version",
        "granted",
        "decided_at",
        "decided_by",
        "withdrawn_at",
    ]
    readonly_fields = fields

    @admin.display(description="Text version")
    def text_version(self, decision: ConsentDecision) -> int:
        return decision.text.version


@admin.register(ConsentRequirement)
class ConsentRequirementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["tenant", "sharing_requires_consent", "updated_at", "updated_by"]
    list_select_related = ["tenant", "updated_by"]
    fields = ["tenant", "sharing_requires_consent", "updated_at", "updated_by"]
    readonly_fields = fields
