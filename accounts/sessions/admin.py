from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts.models import SessionEndReason, UserSession
from accounts.sessions import services
from audit.admin import AuditedAdminMixin
from audit.models import AuditAction
from portal.admin_site import ReadOnlyAdminMixin


class UserSessionAdmin(ReadOnlyAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Every user's sessions, read-only; an operator may end sessions (a stolen laptop, a leaver)."""

    list_display = ["user", "device", "ip_address", "created_at", "last_seen_at", "state"]
    list_filter = ["ended_reason"]
    search_fields = ["user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [field.name for field in UserSession._meta.fields]
    actions = ["end_selected"]

    @admin.display(description="State")
    def state(self, session: UserSession) -> str:
        reason = session.end_reason_at(timezone.now())
        if reason is None:
            return "Active"
        return f"Ended: {SessionEndReason(reason).label}" if reason else "Ended"

    @admin.action(description="End the selected sessions")
    def end_selected(self, request: HttpRequest, queryset) -> None:
        ended = 0
        for session in queryset:
            if session.end_reason_at(timezone.now()) is None and services.end_session(
                session, SessionEndReason.ENDED_BY_OPERATOR
            ):
                ended += 1
                audit.record(
                    AuditAction.SESSION_REVOKED,
                    request=request,
                    actor_role="platform_operator",
                    object_type="user_session",
                    object_ids=[str(session.pk)],
                    details={"revoked_session_ref": session.key_digest, "user": str(session.user_id)},
                )
        messages.success(request, f"{ended} session(s) ended.")
