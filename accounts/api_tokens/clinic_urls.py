"""A clinic's tokens for its admins, under /t/<tenant_slug>/api-tokens/ (included by portal.urls)."""

from django.urls import path

from accounts.api_tokens import views

urlpatterns = [
    path("", views.clinic_token_list, name="clinic-api-tokens"),
    path("<int:token_id>/revoke/", views.clinic_revoke_token, name="clinic-api-token-revoke"),
]
