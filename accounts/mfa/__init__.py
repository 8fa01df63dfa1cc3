"""Second factors (MFA): authenticator apps (TOTP), passkeys (WebAuthn) and single-use backup codes.

Built on django-otp: a device verifies the second factor, `OTPMiddleware` puts it on `request.user`,
and `SecondFactorMiddleware` (here) holds a signed-in user at the second-factor or enrolment pages until
`request.user.is_verified()`. TOTP devices and passkeys are django-otp's and django-otp-webauthn's own
models; this app owns only the backup codes (models.py says why). docs/authentication.md, "Second factor".
"""
