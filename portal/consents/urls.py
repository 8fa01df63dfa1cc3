"""Included at the root of portal.urls: full paths. The patient's page spans all their clinics; the
clinic's page is under /t/<tenant_slug>/."""

from django.urls import path

from portal.consents import views

urlpatterns = [
    path("my/consents/", views.my_consents, name="my-consents"),
    path("t/<slug:tenant_slug>/consents/", views.clinic_consents, name="clinic-consents"),
    path(
        "t/<slug:tenant_slug>/consents/requirements/",
        views.clinic_consent_requirements,
        name="clinic-consent-requirements",
    ),
    path(
        "t/<slug:tenant_slug>/studies/<str:study_uid>/consents/",
        views.record_paper_consent,
        name="study-consent-record",
    ),
]
