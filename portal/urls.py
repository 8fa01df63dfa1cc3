from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from portal import api, metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("t/<slug:tenant_slug>/", views.clinic_dashboard, name="clinic-dashboard"),
    path("t/<slug:tenant_slug>/studies/<str:study_uid>/", views.study_detail, name="study-detail"),
    path("t/<slug:tenant_slug>/", include("imaging.upload.urls")),
    path("t/<slug:tenant_slug>/api-tokens/", include("accounts.api_tokens.clinic_urls")),
    path("dicomweb/<slug:tenant_slug>/", include("imaging.dicomweb.urls")),
    path("viewer/", include("imaging.viewer.urls")),
    # Each of these modules spells out its full paths (tenant routes under t/<slug:tenant_slug>/).
    path("", include("portal.sharing.urls")),
    path("", include("portal.sharing.links.urls")),
    path("", include("portal.sharing.break_glass_urls")),
    path("", include("audit.alerts.urls")),
    path("", include("audit.review.urls")),
    path("", include("audit.exports.urls")),
    path("", include("portal.patients.urls")),
    path("", include("portal.consents.urls")),
    path("", include("imaging.downloads.urls")),
    path("", include("imaging.research.urls")),
    path("", include("portal.agreements.urls")),
    path("", include("portal.clinic_admin.urls")),
    path("", include("portal.onboarding.urls")),
    path("", include("imaging.retention.urls")),
    path("", include("portal.mobile_viewer.urls")),
    path("", include("portal.compliance.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/me/", api.MeView.as_view(), name="api-me"),
    path("api/v1/tenants/<slug:tenant_slug>/studies/", api.StudyListView.as_view(), name="api-studies"),
]
