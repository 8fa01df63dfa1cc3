"""Research project routes, included at the root of portal/urls.py: full paths here."""

from django.urls import path

from imaging.research import views

_CLINIC = "t/<slug:tenant_slug>/research/"

urlpatterns = [
    path(_CLINIC, views.project_list, name="research-projects"),
    path(f"{_CLINIC}new/", views.project_new, name="research-project-new"),
    path(f"{_CLINIC}device-masks/", views.device_masks, name="research-device-masks"),
    path(
        f"{_CLINIC}device-masks/<int:mask_id>/delete/",
        views.device_mask_delete,
        name="research-device-mask-delete",
    ),
    path(f"{_CLINIC}<uuid:project_id>/", views.project_detail, name="research-project"),
    path(f"{_CLINIC}<uuid:project_id>/edit/", views.project_edit, name="research-project-edit"),
    path(f"{_CLINIC}<uuid:project_id>/exports/new/", views.export_new, name="research-export-new"),
    path(f"{_CLINIC}exports/<uuid:export_id>/status/", views.export_status, name="research-export-status"),
    path(f"{_CLINIC}exports/<uuid:export_id>/file/", views.export_file, name="research-export-file"),
    path(
        "t/<slug:tenant_slug>/studies/<str:study_uid>/deidentified/",
        views.study_deidentified,
        name="study-deidentified-download",
    ),
]
