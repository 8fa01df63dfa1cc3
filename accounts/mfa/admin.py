"""Second factors are not edited in the platform admin: an operator resets a user's devices with the
audited "Reset second factors" action on users (accounts/admin.py). The packages' own device admins,
which could add a device for someone else or delete one without an audit event, are taken out."""

from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnAttestation, WebAuthnCredential, WebAuthnUserHandle

for model in (TOTPDevice, WebAuthnCredential, WebAuthnAttestation, WebAuthnUserHandle):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
