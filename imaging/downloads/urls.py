"""Study download routes, included at the root of portal/urls.py: full paths here."""

from django.urls import path

from imaging.downloads import views

_STUDY = "t/<slug:tenant_slug>/studies/<str:study_uid>/download/"

urlpatterns = [
    path(_STUDY, views.choose_format, name="study-download"),
    path(f"{_STUDY}<uuid:download_id>/", views.progress, name="study-download-progress"),
    path(f"{_STUDY}<uuid:download_id>/status/", views.status, name="study-download-status"),
    path(f"{_STUDY}<uuid:download_id>/file/", views.archive, name="study-download-file"),
]
