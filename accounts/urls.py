"""Django's account pages (django.contrib.auth.urls, included after these) with the password views that
audit, expire and unlock. Same paths and names as Django's, so `{% url 'password_change' %}` is ours."""

from django.urls import include, path

from accounts import views
from accounts.sessions import views as session_views

urlpatterns = [
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("sessions/", session_views.session_list, name="sessions"),
    path("sessions/<int:session_id>/revoke/", session_views.revoke_session, name="session-revoke"),
    path("sessions/revoke-others/", session_views.revoke_other_sessions, name="sessions-revoke-others"),
    path("sessions/keepalive/", session_views.keepalive, name="session-keepalive"),
    path("tokens/", include("accounts.api_tokens.urls")),
    # Second factors: the sign-in step, the account security page (accounts/mfa), and the passkey ceremonies.
    path("", include("accounts.mfa.urls")),
    path("passkeys/", include("accounts.mfa.passkey_urls")),
    # Single sign-on with the clinic's OpenID Connect provider (accounts/sso).
    path("sso/", include("accounts.sso.urls")),
]
