"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/."""

from django.urls import path

from audit.alerts import views

urlpatterns = [
    path("t/<slug:tenant_slug>/alerts/", views.alert_list, name="alerts"),
    path(
        "t/<slug:tenant_slug>/alerts/<int:alert_id>/acknowledge/",
        views.acknowledge_alert,
        name="alert-acknowledge",
    ),
    path("t/<slug:tenant_slug>/alerts/settings/", views.alert_settings, name="alert-settings"),
]
