"""`Authorization: Bearer <api token>` for the REST API and DICOMweb (DESIGN.md, External contract).

Three answers, in this order (docs/authentication.md, "API tokens"):

- An unknown, expired or revoked token (or one whose user, clinic or membership is gone) answers 401
  with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 3.1).
- On a clinic's route (a `tenant_slug` in the URL) a token of another clinic answers 404, exactly as
  any other clinic does, and so does a request the token's user may not make at all: the view asks the
  policy (DESIGN.md, Tenancy).
- A request the user may make, but with a token that does not carry the scope it needs, answers 403
  with `error="insufficient_scope"` and the scope named: the caller already holds this clinic's token
  and the right, so saying which scope is missing tells them nothing they may not know.
"""

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

import audit
from accounts.models import ApiToken, TokenScope, User
from accounts.sessions.services import client_address
from accounts.tokens import authenticate_token
from audit.models import AuditAction, Outcome
from audit.services import REFUSED_BEARER

DICOMWEB_PATH_PREFIX = "/dicomweb/"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_REALM = 'realm="palisade"'
# Set on a request whose token was refused, so that the challenge says why (RFC 6750 3.1).
_REFUSAL_ATTRIBUTE = "_palisade_bearer_error"


def required_scope(request: HttpRequest, view=None) -> TokenScope:
    """The scope a token needs for this request: a view may name one (`required_token_scope`, for
    example TokenScope.ADMIN on clinic administration), else it follows from the path and method."""
    declared = getattr(view, "required_token_scope", None)
    if declared is not None:
        return declared
    safe = request.method in _SAFE_METHODS
    if request.path.startswith(DICOMWEB_PATH_PREFIX):
        return TokenScope.DICOMWEB_READ if safe else TokenScope.DICOMWEB_WRITE
    return TokenScope.API_READ if safe else TokenScope.API_WRITE


class InsufficientScope(exceptions.PermissionDenied):
    def __init__(self, scope: TokenScope) -> None:
        super().__init__(
            f"This API token does not carry the scope {scope.value!r} ({scope.label}) that this request "
            "needs. Make a token with that scope on the API tokens page."
        )
        # DRF's exception handler sends `auth_header` as WWW-Authenticate (RFC 6750 3.1).
        self.auth_header = f'Bearer {_REALM}, error="insufficient_scope", scope="{scope.value}"'


def require_token_scope(request: Request, view=None) -> None:
    """Raise InsufficientScope (403) when the request came with a token lacking the scope it needs.
    Call after the access decision, so that what the user may not do at all stays a 404."""
    token = request.auth
    if isinstance(token, ApiToken):
        scope = required_scope(request, view)
        if not token.allows(scope):
            match = request.resolver_match
            audit.record(
                AuditAction.ACCESS_DENIED,
                request=request,
                outcome=Outcome.FAILURE,
                object_type="api_token",
                object_ids=[str(token.pk)],
                details={
                    "route": match.url_name if match else "",
                    "method": request.method,
                    "missing_scope": scope.value,
                },
            )
            raise InsufficientScope(scope)


class TokenScopeRequired(BasePermission):
    """The REST API's scope check (REST_FRAMEWORK's default permissions); DICOMweb views call
    `require_token_scope` themselves, after the policy's 404."""

    def has_permission(self, request: Request, view) -> bool:
        require_token_scope(request, view)
        return True


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            self._refuse(request, "invalid_request")
            raise exceptions.AuthenticationFailed("Malformed Bearer authorization header.")
        try:
            plaintext = words[1].decode("ascii")
        except UnicodeDecodeError:
            self._refuse(request, "invalid_token")
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = authenticate_token(plaintext, address=client_address(request))
        if token is None:
            self._refuse(request, "invalid_token")
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        match = request.resolver_match
        if match is not None and "tenant_slug" in match.kwargs:
            tenant = getattr(request, "tenant", None)
            if tenant is None or tenant.pk != token.tenant_id:
                # Whoever records the refusal (audit.middleware, a DICOMweb view) names the token and
                # its holder, though the request stays without a user.
                setattr(request._request, REFUSED_BEARER, token)
                raise exceptions.NotFound
        return token.user, token

    @staticmethod
    def _refuse(request: Request, error: str) -> None:
        setattr(request, _REFUSAL_ATTRIBUTE, error)

    def authenticate_header(self, request: Request) -> str:
        error = getattr(request, _REFUSAL_ATTRIBUTE, None)
        # RFC 6750 3.1: no error code when the request carried no token at all.
        return f"{self.keyword} {_REALM}" + (f', error="{error}"' if error else "")


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Names the token scheme in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the API tokens page (/accounts/tokens/) or create_api_token.",
        }
