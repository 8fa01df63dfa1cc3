"""The upload page, the endpoint it sends each file to, the job states it polls, and the clinic's
ingestion list (DESIGN.md, Ingestion: each job's state is visible to the uploader and the clinic's admins).
"""

import uuid

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

import audit
from accounts import policy
from accounts.policy import Action
from audit.models import AuditAction
from imaging.ingest.limits import IngestLimits
from imaging.models import IngestJob
from imaging.upload.services import (
    MULTIPART_OVERHEAD_BYTES,
    display_name_for,
    max_upload_bytes,
    receive_upload,
)
from portal.agreements import services as agreements
from portal.decorators import tenant_action_required

# A page polls its own uploads in batches of this many; more ids in one query string is refused.
MAX_POLLED_JOBS = 100
INGEST_LIST_LENGTH = 200
STORAGE_FULL_MESSAGE = (
    "The clinic's storage is full, so this file was not kept. Try again later, "
    "and tell your administrator if it keeps happening."
)


@tenant_action_required(Action.STORE_INSTANCES)
@require_GET
def upload_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    missing = agreements.missing_agreements(request.tenant)
    return render(
        request,
        "imaging/upload.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            # Instead of the drop zone, while an agreement the clinic needs is not in force.
            "agreement_refusal": str(agreements.AgreementMissing(request.tenant, missing)) if missing else "",
            "may_see_agreements": policy.can(request.user, Action.MANAGE_CLINIC, request.tenant)
            or policy.can(request.user, Action.VIEW_COMPLIANCE, request.tenant),
            "max_upload_bytes": max_upload_bytes(IngestLimits.from_settings()),
            "may_follow_ingestion": policy.can(request.user, Action.VIEW_INGEST_JOBS, request.tenant),
        },
    )


# Django reads the body when the CSRF token is checked; the token is checked in _receive_upload instead,
# once the size is known to be acceptable and the upload handlers are set (Django docs, "Modifying
# upload handlers on the fly").
@csrf_exempt
@tenant_action_required(Action.STORE_INSTANCES)
@require_POST
def upload_file(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    # After authorization (the decorator), before a byte of the body is read. 403: the member may
    # upload, the clinic may not receive yet; the page shows the error and offers to send again.
    try:
        agreements.assert_may_ingest(
            request.tenant, channel="upload", request=request, actor_role=request.membership.role
        )
    except agreements.AgreementMissing as missing:
        return _error(403, str(missing))
    refusal = _refusal_by_length(request)
    if refusal is not None:
        return refusal
    # Straight to a private file under var/scratch (FILE_UPLOAD_TEMP_DIR), never held in memory:
    # receive_path reads a file, and a study can weigh gigabytes.
    request.upload_handlers = [TemporaryFileUploadHandler(request)]
    return _receive_upload(request)


def _refusal_by_length(request: HttpRequest) -> JsonResponse | None:
    """Refuse by the declared length, before a byte of the body is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return _error(400, "The request's Content-Length is not a number.")
    if length < 0:
        return _error(411, "Send the file with its length (Content-Length).")
    limit = max_upload_bytes(IngestLimits.from_settings())
    if length > limit + MULTIPART_OVERHEAD_BYTES:
        return _error(413, f"The file is larger than the {limit} bytes the clinic accepts in one upload.")
    return None


@csrf_protect
def _receive_upload(request: HttpRequest) -> HttpResponse:
    files = request.FILES.getlist("file")
    if len(files) != 1 or len(request.FILES) != 1:
        return _error(400, "Send exactly one file per request, in the form field 'file'.")
    uploaded = files[0]
    outcome = receive_upload(
        request.tenant,
        uploaded,
        display_name=display_name_for(request.POST.get("path", ""), uploaded.name or "upload"),
        submitted_by=request.user,
    )
    body: dict = {"jobs": [_job_json(job, with_name=True) for job in outcome.jobs]}
    if outcome.storage_full:
        body["error"] = STORAGE_FULL_MESSAGE
        return JsonResponse(body, status=507)
    if not outcome.jobs:
        # Only an archive yields no job: one holding nothing but folders.
        return _error(422, "The ZIP archive holds no files.")
    accepted = any(job.state != IngestJob.State.REJECTED for job in outcome.jobs)
    # 422 when nothing of the file could be taken; a ZIP with some good members is a success with
    # refusals listed, as STOW-RS answers a partly stored request (PS3.18 10.5.3).
    return JsonResponse(body, status=200 if accepted else 422)


@tenant_action_required(Action.STORE_INSTANCES)
@require_GET
@never_cache
def upload_job_states(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """The states of the jobs named in `ids` (comma-separated) that the user may follow. Names are left
    out: the page knows them, and the clinic's list of names is audited where it is shown."""
    try:
        ids = [uuid.UUID(value) for raw in request.GET.getlist("ids") for value in raw.split(",") if value]
    except ValueError:
        return _error(400, "ids must be ingest job ids separated by commas.")
    if len(ids) > MAX_POLLED_JOBS:
        return _error(400, f"Ask for at most {MAX_POLLED_JOBS} jobs at a time.")
    # The tenant scope keeps other clinics' jobs out, whatever ids are asked for.
    jobs = policy.visible_ingest_jobs(request.user, request.tenant).filter(pk__in=ids)
    return JsonResponse({"jobs": [_job_json(job, with_name=False) for job in jobs]})


@tenant_action_required(Action.VIEW_INGEST_JOBS)
@require_GET
@never_cache
def ingest_jobs(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in IngestJob.State.values:
        state = ""
    jobs = policy.visible_ingest_jobs(request.user, request.tenant).order_by("-created_at")
    if state:
        jobs = jobs.filter(state=state)
    jobs = list(jobs[:INGEST_LIST_LENGTH])
    # File names as sent often carry patient names.
    audit.record_access(
        AuditAction.VIEW_INGEST_JOBS,
        request=request,
        actor_role=request.membership.role,
        object_type="ingest_job",
        object_ids=[str(job.pk) for job in jobs],
        details={"state": state} if state else None,
    )
    return render(
        request,
        "imaging/ingest_jobs.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "jobs": jobs,
            "state": state,
            "states": IngestJob.State.choices,
            "may_upload": policy.can(request.user, Action.STORE_INSTANCES, request.tenant),
        },
    )


def _job_json(job: IngestJob, *, with_name: bool) -> dict:
    data = {"id": str(job.pk), "state": job.state, "error_reason": job.error_reason}
    if with_name:
        data["display_name"] = job.display_name
    return data


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)
