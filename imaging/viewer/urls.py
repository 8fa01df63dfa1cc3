"""Routes under /viewer/ (portal/urls.py). OHIF's router base is /viewer/t/<tenant-slug>, so its client-side
routes (the study list, /viewer?StudyInstanceUIDs=…) all land on the shell; its files are under /viewer/."""

from django.urls import path, re_path

from imaging.viewer import views

urlpatterns = [
    path("", views.viewer_home, name="viewer-home"),
    path("t/<slug:tenant_slug>/", views.viewer_shell, name="viewer"),
    path("t/<slug:tenant_slug>/app-config.js", views.viewer_config, name="viewer-config"),
    path("t/<slug:tenant_slug>/<path:route>", views.viewer_shell, name="viewer-route"),
    # Not t/…: OHIF names its router base without the slash (/viewer/t/alpha?…), which must stay
    # unresolved here so that CommonMiddleware's APPEND_SLASH sends it to the shell.
    re_path(r"^(?!t/)(?P<path>.+)$", views.viewer_file, name="viewer-file"),
]
