"""Included at the root of portal.urls: full paths, under the clinic's /t/<tenant_slug>/."""

from django.urls import path

from portal.sharing import break_glass

urlpatterns = [
    path("t/<slug:tenant_slug>/break-glass/", break_glass.break_glass_page, name="break-glass"),
]
