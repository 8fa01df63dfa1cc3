"""Patient onboarding and the patient's pages. Included at the root of portal/urls.py: full paths."""

from django.urls import path

from portal.patients import views

urlpatterns = [
    path(
        "t/<slug:tenant_slug>/studies/<str:study_uid>/access-code/",
        views.issue_access_code,
        name="patient-access-code-new",
    ),
    path("patients/join/", views.join, name="patient-join"),
    path("my/images/", views.my_images, name="my-images"),
]
