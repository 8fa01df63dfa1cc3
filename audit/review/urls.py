"""Included at the root of portal.urls: each path is spelled in full."""

from django.urls import path

from audit.review import views

urlpatterns = [
    path("t/<slug:tenant_slug>/audit/", views.audit_review, name="audit-review"),
    path("t/<slug:tenant_slug>/audit/export.csv", views.audit_export_csv, name="audit-export-csv"),
    path("t/<slug:tenant_slug>/access-history/", views.patient_access_history, name="access-history"),
]
