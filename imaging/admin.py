from django.contrib import admin

from audit.admin import AuditedAdminMixin
from imaging.models import Patient, RemoteAE, Study
from portal.admin_site import ReadOnlyAdminMixin


class ReadOnlyIndexAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The index is written by ingestion only; operators inspect it here, by identifiers, not names."""


@admin.register(Patient)
class PatientAdmin(AuditedAdminMixin, ReadOnlyIndexAdmin):
    """By identifiers only. The one thing an operator may change is whether the patient is restricted
    (VIP): every access to a restricted patient's studies raises an alert (audit.alerts)."""

    list_display = ["__str__", "tenant", "is_restricted", "created_at"]
    list_filter = ["tenant", "is_restricted"]
    fields = ["tenant", "is_restricted", "created_at"]
    readonly_fields = ["tenant", "created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


@admin.register(Study)
class StudyAdmin(ReadOnlyIndexAdmin):
    list_display = [
        "study_instance_uid",
        "tenant",
        "study_date",
        "modalities_in_study",
        "number_of_instances",
    ]
    list_filter = ["tenant", "study_date"]
    fields = [
        "tenant",
        "study_instance_uid",
        "study_date",
        "modalities_in_study",
        "number_of_series",
        "number_of_instances",
        "created_at",
    ]
    readonly_fields = fields


@admin.register(RemoteAE)
class RemoteAEAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Each clinic's peer AEs: who may associate with the clinic's AE title, what each may do there, and
    the C-MOVE destinations (imaging.dimse)."""

    list_display = [
        "ae_title",
        "tenant",
        "host",
        "port",
        "tls_subject",
        "may_store",
        "may_query",
        "may_retrieve",
        "is_active",
    ]
    list_filter = ["tenant", "is_active", "may_store", "may_query", "may_retrieve"]
    search_fields = ["ae_title", "host", "description"]
