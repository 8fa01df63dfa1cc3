"""`Authorization: Bearer <api token>` for the REST API and DICOMweb (DESIGN.md, External contract).

A token belongs to one clinic. On a clinic's route (a `tenant_slug` in the URL) a token of another
clinic answers 404, exactly as any other clinic does (DESIGN.md, Tenancy); a token without the scope
a request needs answers 404 too, since the caller may not see the resource. An unknown, expired or
revoked token answers 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 3).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import ApiToken, TokenScope, User
from accounts.tokens import authenticate_token

DICOMWEB_PATH_PREFIX = "/dicomweb/"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def required_scope(request: Request) -> TokenScope:
    if request.path.startswith(DICOMWEB_PATH_PREFIX):
        return TokenScope.DICOMWEB_READ if request.method in _SAFE_METHODS else TokenScope.DICOMWEB_WRITE
    return TokenScope.API_READ


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Malformed Bearer authorization header.")
        try:
            plaintext = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = authenticate_token(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        match = request.resolver_match
        if match is not None and "tenant_slug" in match.kwargs:
            tenant = getattr(request, "tenant", None)
            if tenant is None or tenant.pk != token.tenant_id:
                raise exceptions.NotFound
        if not token.allows(required_scope(request)):
            raise exceptions.NotFound
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="palisade"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Names the token scheme in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "An API token from create_api_token."}
