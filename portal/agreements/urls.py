"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/."""

from django.urls import path

from portal.agreements import views

urlpatterns = [
    path("t/<slug:tenant_slug>/agreements/", views.agreements_page, name="agreements"),
]
