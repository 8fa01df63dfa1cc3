"""A user's own tokens, under /accounts/tokens/ (included by accounts.urls)."""

from django.urls import path

from accounts.api_tokens import views

urlpatterns = [
    path("", views.token_list, name="api-tokens"),
    path("new/", views.create_token, name="api-token-create"),
    path("<int:token_id>/revoke/", views.revoke_own_token, name="api-token-revoke"),
]
