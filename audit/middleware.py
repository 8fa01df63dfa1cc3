"""Every refusal leaves an audit event, on every route, including routes added later.

Views that refuse with reasons of their own record ACCESS_DENIED themselves (DICOMweb, share links,
the API token pages); any other 401, 403, 404 or 410 answered by a route of the project is recorded
here, with the route's name and the identifiers in its URL. A path that matches no route is not a
refusal of anything and is not recorded.
"""

from django.http import HttpRequest, HttpResponse

import audit
from audit.models import AuditAction, Outcome
from audit.services import DENIAL_RECORDED

_REFUSALS = {401, 403, 404, 410}
# URL keyword arguments that identify a record (UIDs, ids); the clinic is the event's tenant.
_IDENTIFIER_SUFFIXES = ("_uid", "_id", "_pk")


class DenialAuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if (
            response.status_code in _REFUSALS
            and match is not None
            and not getattr(request, DENIAL_RECORDED, False)
        ):
            audit.record(
                AuditAction.ACCESS_DENIED,
                request=request,
                outcome=Outcome.FAILURE,
                object_type="route",
                object_ids=[
                    str(value)
                    for key, value in sorted(match.kwargs.items())
                    if key.endswith(_IDENTIFIER_SUFFIXES)
                ],
                details={"route": match.view_name, "method": request.method, "status": response.status_code},
            )
        return response
