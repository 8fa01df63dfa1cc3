"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/."""

from django.urls import path

from portal.compliance import views

urlpatterns = [
    path("t/<slug:tenant_slug>/compliance/", views.compliance_report, name="compliance-report"),
    path(
        "t/<slug:tenant_slug>/compliance/report.pdf",
        views.compliance_report_pdf,
        name="compliance-report-pdf",
    ),
    path("t/<slug:tenant_slug>/transparency/", views.transparency_page, name="transparency"),
]
