"""Share link routes, included at the root of portal/urls.py: full paths here. The visitor's under /s/,
the sharer's under the clinic's /t/<tenant-slug>/."""

from django.urls import path

from portal.sharing.links import views

urlpatterns = [
    path("s/", views.link_home, name="share-link-home"),
    path("s/<str:token>/", views.open_link, name="share-link-open"),
    path("t/<slug:tenant_slug>/studies/<str:study_uid>/links/new/", views.new_link, name="share-link-new"),
    path("t/<slug:tenant_slug>/links/<int:link_id>/", views.link_detail, name="share-link-detail"),
    path("t/<slug:tenant_slug>/links/<int:link_id>/revoke/", views.revoke_link, name="share-link-revoke"),
]
