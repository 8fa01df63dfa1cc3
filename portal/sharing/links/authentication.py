"""A share link's visitor on DICOMweb (imaging/dicomweb/base.py): the viewer reads the link's studies with
the session cookie, as a member's does. What the visitor may read is the policy's decision (404 for
anything else, STOW-RS included); this only lets the request reach it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.policy import LinkVisitor


class ShareLinkVisitorAuthentication(SessionAuthentication):
    """The LinkVisitor that ShareLinkVisitorMiddleware put on the request. DRF's SessionAuthentication
    ignores it (a visitor is not an active user) and would leave a plain anonymous user instead."""

    def authenticate(self, request: Request) -> tuple[LinkVisitor, None] | None:
        visitor = getattr(request._request, "user", None)
        if not isinstance(visitor, LinkVisitor):
            return None
        # As for a member's session: a form on another site must not act with the visitor's cookie.
        self.enforce_csrf(request)
        return visitor, None


class MemberOrLinkVisitor(BasePermission):
    """A signed-in user (session or bearer token) or a share link's visitor; everyone else gets 401."""

    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and (request.user.is_authenticated or isinstance(request.user, LinkVisitor)))


class ShareLinkVisitorScheme(OpenApiAuthenticationExtension):
    """Names the visitor's session cookie in the OpenAPI schema (drf-spectacular finds it by subclassing)."""

    target_class = ShareLinkVisitorAuthentication
    name = "shareLinkSession"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The session of whoever opened a share link at /s/<token>/: its studies only.",
        }
