from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone

from portal.admin_site import ReadOnlyAdminMixin
from portal.sharing import services
from portal.sharing.links.services import link_state, revoke_link
from portal.sharing.models import Share, ShareLink
from portal.sharing.selectors import share_state


@admin.register(Share)
class ShareAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every clinic's shares with doctors, read-only and by identifiers: clinics make and end them on
    their pages. Operators may only revoke one (audited), e.g. for a doctor who left or a mistake
    reported to support. The note is the clinic's message to the doctor and is not shown here."""

    list_display = ["id", "tenant", "covers", "grantee", "granted_by", "created_at", "expires_at", "state"]
    list_filter = ["tenant", "allow_download"]
    list_select_related = ["tenant", "grantee", "granted_by", "study", "patient"]
    search_fields = ["grantee__email", "granted_by__email", "study__study_instance_uid"]
    date_hierarchy = "created_at"
    fields = [
        "tenant",
        "covers",
        "grantee",
        "granted_by",
        "allow_download",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "seen_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="Shares")
    def covers(self, share: Share) -> str:
        # Identifiers, not names: the platform admin shows no patient's details.
        if share.study_id:
            return f"Study {share.study.study_instance_uid}"
        return f"Every study of patient #{share.patient_id}"

    @admin.display(description="State")
    def state(self, share: Share) -> str:
        return share_state(share, timezone.now()).capitalize()

    @admin.action(description="Revoke the selected shares")
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = sum(
            services.revoke_share(share, actor=request.user, request=request, by="platform_admin")
            for share in queryset.select_related("tenant", "study")
        )
        messages.success(request, f"{revoked} share(s) revoked.")


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every clinic's share links, read-only and by identifiers; operators may only revoke one (audited
    on the link's clinic). Only the token's hash exists: no one can open a link from here."""

    list_display = ["id", "tenant", "label", "created_by", "created_at", "expires_at", "use_count", "state"]
    list_filter = ["tenant", "allow_download"]
    list_select_related = ["tenant", "created_by"]
    search_fields = ["created_by__email", "label"]
    date_hierarchy = "created_at"
    fields = [
        "tenant",
        "label",
        "created_by",
        "allow_download",
        "use_limit",
        "use_count",
        "failed_attempts",
        "created_at",
        "expires_at",
        "locked_at",
        "revoked_at",
        "revoked_by",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="State")
    def state(self, link: ShareLink) -> str:
        return link_state(link).replace("_", " ").capitalize()

    @admin.action(description="Revoke the selected share links")
    def revoke(self, request: HttpRequest, queryset) -> None:
        revoked = sum(
            revoke_link(link, by=request.user, request=request, actor_role="platform_operator")
            for link in queryset.select_related("tenant")
        )
        messages.success(request, f"{revoked} share link(s) revoked.")
