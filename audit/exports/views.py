"""GET /api/v1/audit/fhir: a clinic's audit trail as a FHIR Bundle (searchset) of R4 AuditEvents.

Only members who may read the clinic's audit trail (policy Action.VIEW_AUDIT) get it; for anyone
else the clinic does not exist (404), whatever its slug. A bearer token must belong to that clinic
and carry the api:read scope (403 otherwise, once the caller is known to have the right).
"""

from django.http import QueryDict
from django.utils.http import urlencode
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
from accounts import policy
from accounts.authentication import require_token_scope
from accounts.models import ApiToken
from audit.chain import chain_of
from audit.exports import fhir
from audit.exports.selectors import ExportFilterError, events_for_export, export_filter
from audit.exports.services import record_export
from audit.models import AuditAction, Outcome
from portal.models import Tenant
from portal.tenancy import tenant_scope

DEFAULT_COUNT = 100
MAX_COUNT = 1000


class FhirJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


def operation_outcome(diagnostics: str, code: str = "invalid") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


class _BadRequest(Exception):
    pass


def _count_and_offset(params: QueryDict) -> tuple[int, int]:
    try:
        count = int(params.get("_count", DEFAULT_COUNT))
        offset = int(params.get("_offset", 0))
    except ValueError:
        raise _BadRequest("_count and _offset must be whole numbers.") from None
    if not 0 <= count <= MAX_COUNT or offset < 0:
        raise _BadRequest(f"_count must be between 0 and {MAX_COUNT}, _offset at least 0.")
    return count, offset


class AuditEventSearchView(APIView):
    # The scope is checked after the access decision, so that a caller without the right gets the
    # 404 of a clinic that does not exist rather than a 403 (accounts.authentication).
    permission_classes = [IsAuthenticated]
    renderer_classes = [FhirJSONRenderer, JSONRenderer]

    @extend_schema(
        operation_id="audit_fhir_search",
        summary="Search a clinic's audit trail as FHIR R4 AuditEvents",
        description=(
            "A FHIR Bundle of type searchset holding R4 AuditEvent resources (IHE BALP patterns, DICOM "
            "event codes), oldest first. Only clinic admins and privacy officers of the clinic; anyone "
            "else gets 404. Reading the trail this way is itself audited."
        ),
        parameters=[
            OpenApiParameter("tenant", str, required=True, description="The clinic's slug."),
            OpenApiParameter(
                "since", str, description="ISO 8601 date or date-time: events recorded at or after it."
            ),
            OpenApiParameter(
                "until", str, description="ISO 8601 date or date-time: events recorded before it."
            ),
            OpenApiParameter(
                "action",
                str,
                many=True,
                description="Palisade action names (e.g. view_study), comma-separated.",
            ),
            OpenApiParameter(
                "_count", int, description=f"Events per page, at most {MAX_COUNT} ({DEFAULT_COUNT})."
            ),
            OpenApiParameter("_offset", int, description="Events to skip (the Bundle's next link sets it)."),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR Bundle (searchset) of AuditEvents."),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT, description="FHIR OperationOutcome naming the parameter."
            ),
            401: OpenApiResponse(description="No valid session or API token."),
            403: OpenApiResponse(description="The API token lacks the api:read scope."),
            404: OpenApiResponse(
                description="No such clinic, or not one whose audit trail the caller may read."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        slug = request.query_params.get("tenant", "").strip()
        if not slug:
            return Response(
                operation_outcome("tenant: the clinic's slug is required.", "required"), status=400
            )
        tenant = self._readable_tenant(request, slug)
        require_token_scope(request, self)
        try:
            count, offset = _count_and_offset(request.query_params)
            selected = export_filter(
                request.query_params.get("since"),
                request.query_params.get("until"),
                request.query_params.getlist("action"),
            )
        except (_BadRequest, ExportFilterError) as error:
            return Response(operation_outcome(str(error)), status=400)
        with tenant_scope(tenant):
            events = events_for_export(tenant, selected)
            total = events.count()
            page = list(events[offset : offset + count])
            resources = fhir.audit_events(page, tenant)
        record_export(
            tenant,
            export_format="fhir",
            interface="rest",
            selected=selected,
            count=len(page),
            sequences=(page[0].sequence, page[-1].sequence) if page else None,
            request=request,
            actor_role=policy.membership(request.user, tenant).role,
        )
        bundle = fhir.searchset(resources, total=total, links=self._links(request, offset, count, total))
        return Response(bundle, content_type=FhirJSONRenderer.media_type)

    def _readable_tenant(self, request: Request, slug: str) -> Tenant:
        tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if tenant is None or (token is not None and token.tenant_id != tenant.pk):
            raise NotFound
        if not policy.can(request.user, policy.Action.VIEW_AUDIT, tenant):
            member = policy.membership(request.user, tenant)
            if member is not None:
                # A member of this clinic tried to read its trail: the clinic's own privacy officers
                # see the attempt. (Others' attempts are recorded by audit.middleware, clinic-less.)
                audit.record(
                    AuditAction.ACCESS_DENIED,
                    request=request,
                    tenant=tenant,
                    actor_role=member.role,
                    outcome=Outcome.FAILURE,
                    object_type="audit_chain",
                    object_ids=[chain_of(tenant.pk)],
                    details={
                        "route": "api-audit-fhir",
                        "method": request.method,
                        "reason": "may_not_read_audit",
                    },
                )
            raise NotFound
        return tenant

    @staticmethod
    def _links(request: Request, offset: int, count: int, total: int) -> dict[str, str]:
        def page_url(page_offset: int) -> str:
            params = request.query_params.copy()
            params["_offset"] = str(page_offset)
            params["_count"] = str(count)
            query = urlencode(sorted(params.lists()), doseq=True)
            return request.build_absolute_uri(f"{request.path}?{query}")

        links = {"self": page_url(offset)}
        if count and offset + count < total:
            links["next"] = page_url(offset + count)
        if offset > 0:
            links["previous"] = page_url(max(offset - count, 0))
        return links
