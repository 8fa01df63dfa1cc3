"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/retention/."""

from django.urls import path

from imaging.retention import views

_CLINIC = "t/<slug:tenant_slug>/retention/"

urlpatterns = [
    path(_CLINIC, views.overview, name="retention"),
    path(f"{_CLINIC}rules/new/", views.rule_new, name="retention-rule-new"),
    path(f"{_CLINIC}rules/<int:pk>/", views.rule_edit, name="retention-rule-edit"),
    path(f"{_CLINIC}rules/<int:pk>/remove/", views.rule_remove, name="retention-rule-remove"),
    path(f"{_CLINIC}holds/new/", views.hold_place, name="retention-hold-place"),
    path(f"{_CLINIC}holds/<int:pk>/release/", views.hold_release, name="retention-hold-release"),
    path(f"{_CLINIC}erasures/new/", views.erasure_request, name="retention-erasure-request"),
    path(f"{_CLINIC}erasures/<int:pk>/approve/", views.erasure_approve, name="retention-erasure-approve"),
    path(f"{_CLINIC}erasures/<int:pk>/refuse/", views.erasure_refuse, name="retention-erasure-refuse"),
    path(f"{_CLINIC}certificates/", views.certificate_list, name="retention-certificates"),
    path(
        f"{_CLINIC}certificates/<uuid:certificate_id>/",
        views.certificate_detail,
        name="retention-certificate",
    ),
]
