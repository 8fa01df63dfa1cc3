"""django-otp-webauthn's ceremony views with Palisade's audit trail and session marks added. Its
JavaScript (served from its static folder) calls them under the `otp_webauthn` URL names."""

import json

from django.http import HttpResponse, JsonResponse
from django_otp_webauthn import exceptions
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.views import CompleteCredentialAuthenticationView, CompleteCredentialRegistrationView

from accounts.mfa import services


class CompletePasskeyRegistrationView(CompleteCredentialRegistrationView):
    def post(self, *args, **kwargs) -> HttpResponse:
        response = super().post(*args, **kwargs)
        device = WebAuthnCredential.objects.get(pk=json.loads(response.content)["id"], user=self.request.user)
        services.enrolled(self.request, device)
        return response


class CompletePasskeyVerificationView(CompleteCredentialAuthenticationView):
    """A passkey as the second factor of a password sign-in (passwordless sign-in is off: the package's
    check refuses a ceremony without a signed-in user)."""

    def complete_auth(self, device: WebAuthnCredential) -> None:
        services.passkey_verified(self.request, device)

    def handle_exception(self, exc: Exception) -> JsonResponse:
        if isinstance(exc, exceptions.OTPWebAuthnApiError):
            services.passkey_failed(self.request, exc.code)
        return super().handle_exception(exc)
