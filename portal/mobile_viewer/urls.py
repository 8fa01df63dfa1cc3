"""The light viewer's route, included at the root of portal/urls.py: full paths here."""

from django.urls import path

from portal.mobile_viewer import views

urlpatterns = [
    path(
        "t/<slug:tenant_slug>/studies/<str:study_uid>/light/",
        views.light_viewer,
        name="mobile-viewer",
    ),
]
