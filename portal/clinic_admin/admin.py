"""Clinics' sharing policies for platform operators, read-only: a clinic's admins change them on the
clinic's settings pages, bounded and audited as `policy_changed` (portal.clinic_admin.services)."""

from django.contrib import admin

from portal.admin_site import ReadOnlyAdminMixin
from portal.clinic_admin.models import SharingPolicy


@admin.register(SharingPolicy)
class SharingPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "tenant",
        "link_max_days",
        "links_may_allow_download",
        "share_max_days",
        "shares_may_allow_download",
        "updated_at",
    ]
    list_select_related = ["tenant"]
