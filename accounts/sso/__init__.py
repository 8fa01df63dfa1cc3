"""Single sign-on: OpenID Connect, one identity provider per clinic (docs/authentication.md, "Single
sign-on").

A clinic's provider (OidcProvider, configured by platform operators in the admin) signs its people in
with the authorization code flow (PKCE, state and nonce); the ID token is verified against the
provider's published keys; the e-mail and role claims give the user and their role in that clinic
only. The session is then opened with Django's login(), so the audit trail, session control and the
second-factor rules apply as to any sign-in; a clinic may let its provider's MFA stand for Palisade's.
"""
