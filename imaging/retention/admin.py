"""Retention rows for platform operators. Rules are edited here (audited); holds, erasure requests
and certificates are shown read-only: they change only through imaging.retention's services, which
enforce the hold and two-person rules and write the audit trail."""

from django.contrib import admin

from audit.admin import AuditedAdminMixin
from imaging.retention.models import DestructionCertificate, ErasureRequest, LegalHold, RetentionRule
from portal.admin_site import ReadOnlyAdminMixin


@admin.register(RetentionRule)
class RetentionRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "tenant",
        "modality",
        "years_after_study",
        "age_of_majority",
        "minor_until_age",
        "is_active",
    ]
    list_filter = ["tenant", "is_active"]
    list_select_related = ["tenant"]


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "tenant", "patient", "study_instance_uid", "placed_by", "placed_at", "released_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "placed_by"]


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "tenant",
        "study_instance_uid",
        "state",
        "requested_by",
        "decided_by",
        "requested_at",
    ]
    list_filter = ["tenant", "state"]
    list_select_related = ["tenant", "requested_by", "decided_by"]


@admin.register(DestructionCertificate)
class DestructionCertificateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "tenant", "basis", "study_instance_uid", "object_count", "completed_at"]
    list_filter = ["tenant", "basis"]
    list_select_related = ["tenant"]
