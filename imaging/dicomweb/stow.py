"""STOW-RS: POST /dicomweb/<tenant>/studies[/{study}] (PS3.18 10.5)."""

import json
import tempfile
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse, UnreadablePostError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.request import Request

import audit
from accounts import policy
from audit.models import AuditAction, Outcome
from imaging.dicomweb.base import DicomwebView
from imaging.dicomweb.body_limits import refused_status
from imaging.dicomweb.limits import StowLimits
from imaging.dicomweb.multipart import BodyTooLarge, RequestRefused, related_boundary, spool_parts
from imaging.dicomweb.responses import DICOM_JSON, store_response, store_status
from imaging.dicomweb.store import StowResult, store_parts
from portal.agreements import services as agreements


class _PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class _RequestTimeout(exceptions.APIException):
    status_code = 408
    default_code = "request_timeout"


def _refusal(refused: RequestRefused) -> exceptions.APIException:
    if refused.status == 408:
        return _RequestTimeout(str(refused))
    if refused.status == 415:
        return exceptions.UnsupportedMediaType("multipart/related", detail=str(refused))
    if refused.status == 413:
        return _PayloadTooLarge(str(refused))
    return exceptions.ParseError(str(refused))


def _agreement_refusal(missing: agreements.AgreementMissing) -> HttpResponse:
    """403 with the reason as a text/plain Status Report. PS3.18 lets a failure response carry a Status
    Report, a human-readable document; a Store Instances Response (application/dicom+json) would have
    to list each instance in a Failed SOP Sequence, and none has been read: the whole request is
    refused before its body is. dicomweb-client raises HTTPError with the response, whose text is the
    reason; the Warning header field, in the form PS3.18 uses ("299 <service>: <text>"), carries the
    short reason for clients that only log headers."""
    response = HttpResponse(str(missing), status=403, content_type="text/plain; charset=utf-8")
    response["Warning"] = f"299 palisade: {missing.short_message}"
    return response


def _scratch_dir() -> tempfile.TemporaryDirectory:
    # Parts are plaintext DICOM until receive_file encrypts them: a private folder, emptied at once.
    scratch = Path(settings.VAR_DIR) / "scratch"
    scratch.mkdir(mode=0o700, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=scratch, prefix="stow-")


_SCHEMA = {
    "summary": "Store instances (STOW-RS, PS3.18 10.5)",
    "request": {"multipart/related": OpenApiTypes.BINARY},
    "responses": {
        200: OpenApiResponse(description="Every instance stored (application/dicom+json)."),
        202: OpenApiResponse(description="Some instances failed; see FailedSOPSequence."),
        409: OpenApiResponse(description="No instance stored; see FailedSOPSequence."),
        400: OpenApiResponse(description="The multipart body cannot be read."),
        403: OpenApiResponse(description="An agreement the clinic needs is not in force (text/plain)."),
        413: OpenApiResponse(description="Too many parts or bytes."),
        415: OpenApiResponse(description="Not multipart/related; type=application/dicom."),
        507: OpenApiResponse(description="Storage full."),
    },
}


@extend_schema_view(post=extend_schema(operation_id="dicomweb_store_instances", **_SCHEMA))
class StowView(DicomwebView):
    required_action = policy.Action.STORE_INSTANCES

    def post(self, request: Request, tenant_slug: str, study_uid: str | None = None) -> HttpResponse:
        # After authorization (initial: another clinic's caller still gets 404), before a byte is read.
        try:
            agreements.assert_may_ingest(
                request.tenant, channel="stow", request=request, actor_role=self.actor_role(request)
            )
        except agreements.AgreementMissing as missing:
            return _agreement_refusal(missing)
        try:
            result = self._store(request, study_uid)
        except RequestRefused as refused:
            self._audit(request, refused.status, StowResult([]))
            raise _refusal(refused) from None
        status = store_status(result.outcomes, storage_full=result.storage_full)
        studies_url = request.build_absolute_uri(reverse("dicomweb-stow", args=[tenant_slug]))
        body = store_response(result.outcomes, studies_url=studies_url)
        self._audit(request, status, result)
        return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)

    def _store(self, request: Request, study_uid: str | None) -> StowResult:
        limits = StowLimits.from_settings()
        boundary = related_boundary(request.META.get("CONTENT_TYPE", ""))
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            raise RequestRefused("The Content-Length header is not a number.")
        if int(declared) > limits.max_bytes:
            raise BodyTooLarge(f"The body is larger than the {limits.max_bytes} bytes allowed.")
        with _scratch_dir() as workdir:
            # The Django request, not DRF's: DRF sees no stream in a chunked body (no Content-Length).
            # Under ASGI the body is still arriving while it is read (portal/streamed_body.py).
            try:
                parts = spool_parts(request._request.read, boundary, Path(workdir), limits)
            except UnreadablePostError:
                # Cut off: the client left, or the body limits stopped it and answer it themselves
                # (with 408 or 413, which the audit event then records).
                refused = RequestRefused("The request body did not arrive whole.")
                refused.status = refused_status(getattr(request._request, "scope", {})) or refused.status
                raise refused from None
            return store_parts(request.tenant, parts, submitted_by=request.user, study_uid=study_uid)

    def _audit(self, request: Request, status: int, result: StowResult) -> None:
        stored = [outcome for outcome in result.outcomes if outcome.stored]
        audit.record(
            AuditAction.STOW_REQUEST,
            request=request,
            actor_role=policy.membership(request.user, request.tenant).role,
            outcome=Outcome.SUCCESS if stored else Outcome.FAILURE,
            object_type="study",
            object_ids=sorted({outcome.study_instance_uid for outcome in stored}),
            details={
                "status": status,
                "stored": len(stored),
                "failed": len(result.outcomes) - len(stored),
                "token": getattr(request.auth, "prefix", None),
            },
        )


@extend_schema_view(post=extend_schema(operation_id="dicomweb_store_study_instances", **_SCHEMA))
class StowStudyView(StowView):
    """STOW-RS into one study: an instance of another study fails with 0xC409 (imaging.ingest.errors)."""
