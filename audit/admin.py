from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditAction, AuditCheckpoint, AuditEvent
from audit.services import record
from portal.admin_site import ReadOnlyAdminMixin


class AuditedAdminMixin:
    """Records every change made in the platform admin as an audit event."""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self._audit(request, obj, "change" if change else "add", sorted(form.changed_data))

    def delete_model(self, request: HttpRequest, obj) -> None:
        self._audit(request, obj, "delete", [])
        super().delete_model(request, obj)

    def _audit(self, request: HttpRequest, obj, operation: str, fields: list[str]) -> None:
        record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            tenant=_tenant_of(obj),
            actor_role="platform_operator",
            object_type=obj._meta.label_lower,
            object_ids=[str(obj.pk)],
            details={"operation": operation, "fields": fields},
        )


def _tenant_of(obj):
    from portal.models import Tenant

    return obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)


class _ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail is append-only: the admin shows it and changes nothing."""


@admin.register(AuditEvent)
class AuditEventAdmin(_ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "action",
        "outcome",
        "tenant",
        "actor",
        "actor_role",
        "source_address",
        "sequence",
    ]
    list_filter = ["action", "outcome", "tenant"]
    date_hierarchy = "occurred_at"
    readonly_fields = ["chain", "sequence", "previous_hash", "hash"]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(_ReadOnlyAdmin):
    list_display = ["chain", "sequence", "signed_at", "hash"]
    list_filter = ["chain"]
