from django.urls import path

from accounts.sso import views

# Register `/accounts/sso/<clinic>/callback/` (absolute) as the redirect URI at the clinic's provider.
urlpatterns = [
    path("<slug:tenant_slug>/", views.start, name="sso-start"),
    path("<slug:tenant_slug>/callback/", views.callback, name="sso-callback"),
]
