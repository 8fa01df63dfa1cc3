from django.urls import path

from accounts.mfa import views

app_name = "mfa"

urlpatterns = [
    path("login/verify/", views.verify, name="verify"),
    path("security/", views.security, name="security"),
    path("security/authenticator-app/", views.add_totp, name="add-totp"),
    path("security/passkey/", views.add_passkey, name="add-passkey"),
    path("security/backup-codes/", views.backup_codes, name="backup-codes"),
    path("security/<str:kind>/<int:pk>/remove/", views.remove_device, name="remove-device"),
]
