"""QIDO-RS: GET /dicomweb/<tenant>/studies, series and instances, nested and flat (PS3.18 10.6).

Any member of the clinic may search; what they find is what accounts.policy.visible_studies lets them
see, so a search that finds nothing they may see answers 200 and an empty list. A search inside one
study (/studies/{study}/series, /studies/{study}/instances) names a resource: a study the caller may not
open answers 404 like one that does not exist, audited as ACCESS_DENIED, so that a share ended a moment
ago is refused as plainly as by WADO-RS. Callers who may not enter the clinic get the 404 of
DicomwebView, audited likewise.
"""

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.request import Request

import audit
from accounts import policy
from audit.models import AuditAction
from imaging.dicomweb.base import DicomwebView
from imaging.dicomweb.qido_json import search_results
from imaging.dicomweb.qido_params import parse_query
from imaging.dicomweb.responses import DICOM_JSON
from imaging.query import CriteriaError, Level, QueryPage, search_instances, search_series, search_studies

_SEARCHES = {Level.STUDY: search_studies, Level.SERIES: search_series, Level.INSTANCE: search_instances}
# PS3.18 8.7.3.5.1 (Accept): the DICOM JSON model, which application/json also names here.
_ACCEPTABLE = ("application/dicom+json", "application/json", "application/*", "*/*")
# PS3.18 10.6.3.2 (Response): the text of the Warning when `limit` leaves results out.
_MORE_RESULTS = "There are additional results that can be requested."


class _NotAcceptable(exceptions.NotAcceptable):
    default_detail = "QIDO-RS answers application/dicom+json (or application/json) only."


_SCHEMA = {
    "responses": {
        200: OpenApiResponse(description="Matching results in the DICOM JSON model; [] when none match."),
        400: OpenApiResponse(description="A query parameter that cannot be matched; the detail names it."),
        406: OpenApiResponse(description="An Accept header without application/dicom+json."),
    },
}


class QidoView(DicomwebView):
    required_action = policy.Action.ENTER_TENANT
    level: Level

    def get(
        self, request: Request, tenant_slug: str, study_uid: str | None = None, series_uid: str | None = None
    ) -> HttpResponse:
        if not _accepts_json(request.META.get("HTTP_ACCEPT", "")):
            raise _NotAcceptable
        path_uids = {Level.STUDY: study_uid, Level.SERIES: series_uid}
        try:
            query = parse_query(
                request.query_params,
                self.level,
                {level: uid for level, uid in path_uids.items() if uid is not None},
            )
        except CriteriaError as error:
            self._require_study(request, study_uid, series_uid)
            raise exceptions.ParseError(str(error)) from None
        page = _SEARCHES[self.level](
            request.user, request.tenant, query.criteria, limit=query.limit, offset=query.offset
        )
        # A search inside a study matches among the studies the caller may open only, and the path's
        # UID exactly: a result proves the study openable, so only an empty page asks (saving a query
        # on every search of a viewer opening a study).
        if not page.rows:
            self._require_study(request, study_uid, series_uid)
        studies_url = request.build_absolute_uri(reverse("dicomweb-stow", args=[tenant_slug]))
        response = HttpResponse(search_results(page, studies_url), content_type=DICOM_JSON)
        if page.truncated:
            response["Warning"] = f'299 {request.get_host()}: "{_MORE_RESULTS}"'
        self._audit_query(request, page, query.criteria.matches)
        return response

    def _require_study(self, request: Request, study_uid: str | None, series_uid: str | None) -> None:
        """Refuse, as a study that does not exist, a search inside a study the caller may not open."""
        if (
            study_uid is not None
            and not policy.openable_studies(request.user, request.tenant)
            .filter(study_instance_uid=study_uid)
            .exists()
        ):
            self.refuse(
                request, {"study_uid": study_uid, **({"series_uid": series_uid} if series_uid else {})}
            )

    def _audit_query(self, request: Request, page: QueryPage, matches: dict) -> None:
        # Identifiers only: the studies whose data was returned and the names of the keys matched on,
        # never the values searched for (a patient's name, a birth date).
        audit.record_access(
            AuditAction.QUERY,
            request=request,
            actor_role=self.actor_role(request),
            object_type="study",
            object_ids=page.study_uids,
            details={
                "service": "qido-rs",
                "level": self.level.name.lower(),
                "results": len(page.rows),
                "truncated": page.truncated,
                "keys": sorted(f"{tag:08X}" for tag in matches),
                "token": getattr(request.auth, "prefix", None),
            },
        )


def _accepts_json(accept: str) -> bool:
    if not accept.strip():
        return True
    media_types = [item.split(";")[0].strip().lower() for item in accept.split(",")]
    return any(media_type in _ACCEPTABLE for media_type in media_types)


@extend_schema_view(
    get=extend_schema(
        operation_id="dicomweb_search_studies", summary="Search for studies (QIDO-RS, PS3.18 10.6)", **_SCHEMA
    )
)
class SearchStudiesView(QidoView):
    level = Level.STUDY


# Operation IDs come from the paths: each view serves a nested and a flat route.
@extend_schema_view(get=extend_schema(summary="Search for series (QIDO-RS, PS3.18 10.6)", **_SCHEMA))
class SearchSeriesView(QidoView):
    level = Level.SERIES


@extend_schema_view(get=extend_schema(summary="Search for instances (QIDO-RS, PS3.18 10.6)", **_SCHEMA))
class SearchInstancesView(QidoView):
    level = Level.INSTANCE
