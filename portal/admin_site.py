from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class PlatformAdminSite(AdminSite):
    """Django admin is the platform operators' console; clinic staff manage their clinic elsewhere."""

    site_header = "Palisade platform administration"
    site_title = "Palisade admin"
    index_title = "Platform"

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser


class ReadOnlyAdminMixin:
    """Rows the admin shows and never adds, edits or deletes: records written by the product itself
    (the audit trail, the imaging index, sessions, tokens). Actions may still act on them, audited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PlatformAdminConfig(AdminConfig):
    default_site = "portal.admin_site.PlatformAdminSite"
