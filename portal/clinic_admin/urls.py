"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/."""

from django.urls import path

from portal.clinic_admin import views

urlpatterns = [
    path("t/<slug:tenant_slug>/settings/", views.settings_hub, name="clinic-settings"),
    path("t/<slug:tenant_slug>/settings/security/", views.security_policy, name="clinic-security-policy"),
    path("t/<slug:tenant_slug>/settings/sharing/", views.sharing_policy, name="clinic-sharing-policy"),
]
