from django.urls import path

from audit.exports.views import AuditEventSearchView

# Included at the root of portal/urls.py: the paths are spelled out in full.
urlpatterns = [
    path("api/v1/audit/fhir", AuditEventSearchView.as_view(), name="api-audit-fhir"),
]
