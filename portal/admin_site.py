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


class PlatformAdminConfig(AdminConfig):
    default_site = "portal.admin_site.PlatformAdminSite"
