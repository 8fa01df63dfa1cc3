"""Routes under /t/<tenant_slug>/ (included by portal.urls)."""

from django.urls import path

from imaging.upload import views

urlpatterns = [
    path("upload/", views.upload_page, name="upload"),
    path("upload/files/", views.upload_file, name="upload-file"),
    path("upload/jobs/", views.upload_job_states, name="upload-job-states"),
    path("ingest/", views.ingest_jobs, name="ingest-jobs"),
]
