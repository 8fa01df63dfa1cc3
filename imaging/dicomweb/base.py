"""What every DICOMweb view shares: who the caller is, and which clinic's resources they may touch."""

import re
from typing import NoReturn

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

import audit
from accounts import policy
from accounts.authentication import BearerTokenAuthentication, require_token_scope
from audit.models import AuditAction, Outcome
from portal.sharing.links.authentication import MemberOrLinkVisitor, ShareLinkVisitorAuthentication
from portal.sharing.links.services import VISITOR_ACTOR_ROLE


class _FirstRenderer(BaseContentNegotiation):
    """DICOMweb clients ask for application/dicom+json; errors are plain JSON all the same, instead of
    a 406 that would hide the real status."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DicomwebSchema(AutoSchema):
    """PS3.18 resources carry DICOM (multipart, DICOM JSON, images), not serializer-shaped JSON: the
    OpenAPI schema lists them as opaque bodies, with an operation id per path and method (one view
    class serves several resource levels)."""

    def get_operation_id(self) -> str:
        words = [word for word in re.split(r"[/{}]+", self.path) if word and word != "tenant_slug"]
        return "_".join([*words, self.method.lower()])

    def get_request_serializer(self):
        return None

    def get_response_serializers(self):
        return OpenApiTypes.BINARY


class DicomwebView(APIView):
    """A bearer token or the session cookie; session POSTs need the CSRF token (DRF SessionAuthentication).
    The session may be a member's or that of a share link's visitor (portal/sharing/links).

    The caller must hold `required_action` on the clinic of the URL, else 404 for every method, as for
    a clinic that does not exist (DESIGN.md, Tenancy): a link's visitor enters only the link's clinic,
    only while the link lasts, and never stores. Anonymous callers get 401 and a Bearer challenge;
    a bearer token without the scope the request needs, 403.
    """

    schema = DicomwebSchema()
    authentication_classes = [
        BearerTokenAuthentication,
        SessionAuthentication,
        ShareLinkVisitorAuthentication,
    ]
    permission_classes = [MemberOrLinkVisitor]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FirstRenderer
    required_action: policy.Action

    def initial(self, request: Request, *args, **kwargs) -> None:
        try:
            super().initial(request, *args, **kwargs)
        except NotFound:
            # A token of another clinic is refused while authenticating (accounts.authentication).
            self.refuse(request, kwargs)
        tenant = request.tenant
        if tenant is None or not policy.can(request.user, self.required_action, tenant):
            self.refuse(request, kwargs)
        # After the policy: what the user may not do at all stays a 404; a token without the scope for
        # what they may do answers 403 (accounts.authentication).
        require_token_scope(request, self)

    def actor_role(self, request: Request) -> str:
        """The caller's role in the clinic for audit events ("" if none), or that of a link visitor."""
        if isinstance(request.user, policy.LinkVisitor):
            return VISITOR_ACTOR_ROLE
        member = policy.membership(request.user, request.tenant)
        return member.role if member else ""

    def refuse(self, request: Request, url_kwargs: dict) -> NoReturn:
        """Audit the refusal (identifiers only), then answer the 404 of a clinic that does not exist."""
        audit.record(
            AuditAction.ACCESS_DENIED,
            request=request,
            outcome=Outcome.FAILURE,
            object_type="tenant",
            object_ids=[value for key, value in sorted(url_kwargs.items()) if key.endswith("_uid")],
            details={"route": request.resolver_match.url_name, "method": request.method},
        )
        raise NotFound
