"""Routes under /dicomweb/<tenant-slug>/ (portal/urls.py). No trailing slashes: PS3.18 resource paths."""

from django.urls import path

from imaging.dicomweb.qido import SearchInstancesView, SearchSeriesView
from imaging.dicomweb.studies import StudiesView
from imaging.dicomweb.wado import BulkdataView, FramesView, MetadataView, RetrieveView, StudyView
from imaging.dicomweb.wado_render import RenderedView, ThumbnailView

urlpatterns = [
    # GET searches (QIDO-RS), POST stores (STOW-RS); the name is STOW's, which existed first.
    path("studies", StudiesView.as_view(), name="dicomweb-stow"),
    # GET retrieves (WADO-RS), POST stores into the study (STOW-RS); the name is STOW's, which existed first.
    path("studies/<str:study_uid>", StudyView.as_view(), name="dicomweb-stow-study"),
    path("studies/<str:study_uid>/series", SearchSeriesView.as_view(), name="dicomweb-qido-study-series"),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/instances",
        SearchInstancesView.as_view(),
        name="dicomweb-qido-series-instances",
    ),
    path(
        "studies/<str:study_uid>/instances",
        SearchInstancesView.as_view(),
        name="dicomweb-qido-study-instances",
    ),
    path("series", SearchSeriesView.as_view(), name="dicomweb-qido-series"),
    path("instances", SearchInstancesView.as_view(), name="dicomweb-qido-instances"),
    # WADO-RS (PS3.18 10.4): each resource, its metadata, rendered form and thumbnail; frames; bulk data.
    *[
        path(f"{resource}{suffix}", view.as_view(), name=f"dicomweb-wado-{name}{route_suffix}")
        for resource, name in (
            ("studies/<str:study_uid>", "study"),
            ("studies/<str:study_uid>/series/<str:series_uid>", "series"),
            ("studies/<str:study_uid>/series/<str:series_uid>/instances/<str:instance_uid>", "instance"),
        )
        for suffix, view, route_suffix in (
            ("/metadata", MetadataView, "-metadata"),
            ("/rendered", RenderedView, "-rendered"),
            ("/thumbnail", ThumbnailView, "-thumbnail"),
        )
    ],
    path(
        "studies/<str:study_uid>/series/<str:series_uid>",
        RetrieveView.as_view(),
        name="dicomweb-wado-series",
    ),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/instances/<str:instance_uid>",
        RetrieveView.as_view(),
        name="dicomweb-wado-instance",
    ),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/instances/<str:instance_uid>/frames/<str:frames>",
        FramesView.as_view(),
        name="dicomweb-wado-frames",
    ),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/instances/<str:instance_uid>/frames/<str:frames>"
        "/rendered",
        RenderedView.as_view(),
        name="dicomweb-wado-frames-rendered",
    ),
    path(
        "studies/<str:study_uid>/series/<str:series_uid>/instances/<str:instance_uid>/bulkdata/<str:tag>",
        BulkdataView.as_view(),
        name="dicomweb-wado-bulkdata",
    ),
]
