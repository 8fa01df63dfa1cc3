from django.contrib import admin
from django.utils import timezone

from portal.admin_site import ReadOnlyAdminMixin
from portal.patients.models import PatientAccessCode
from portal.patients.services import code_state


@admin.register(PatientAccessCode)
class PatientAccessCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every clinic's patient access codes, read-only and by identifiers (no hash, no e-mail address):
    clinics issue them on the study page; support can tell a patient's clinic what state a code is in."""

    list_display = ["id", "tenant", "patient_id", "issued_by", "issued_at", "expires_at", "state"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "issued_by"]
    date_hierarchy = "issued_at"
    fields = [
        "tenant",
        "patient_id",
        "issued_by",
        "issued_at",
        "expires_at",
        "failed_attempts",
        "locked_at",
        "used_at",
        "used_by",
        "revoked_at",
    ]
    readonly_fields = fields

    @admin.display(description="State")
    def state(self, code: PatientAccessCode) -> str:
        return code_state(code, timezone.now()).value.capitalize()
