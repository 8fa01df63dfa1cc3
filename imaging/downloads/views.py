"""Study download pages: choose a format, follow the job's progress, and take the archive.

Open to whoever the policy lets download the study (DOWNLOAD_STUDY): members by role, the patient,
referring doctors whose share allows it, and share link visitors whose link does. Anyone else, and
anyone asking about another person's job, gets 404 (audited by audit/middleware.py). Pages carry no
cache and no Referer, as a share link visitor's pages do."""

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

import audit
from accounts import policy
from accounts.policy import LinkVisitor
from audit.models import AuditAction
from imaging.downloads import services
from imaging.downloads.models import DownloadJob
from imaging.models import Study
from portal.decorators import private_page
from portal.sharing.links.csrf import no_referrer_csrf_protect
from portal.sharing.links.services import VISITOR_ACTOR_ROLE


def _downloadable_study(request: HttpRequest, study_uid: str) -> Study:
    if getattr(request, "tenant", None) is None:
        raise Http404
    study = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=study_uid).first()
    if study is None or not policy.can(request.user, policy.Action.DOWNLOAD_STUDY, study):
        raise Http404
    return study


def _own_job(request: HttpRequest, study: Study, download_id: UUID) -> DownloadJob:
    job = services.jobs_of(request.user, study).filter(pk=download_id).first()
    if job is None:
        raise Http404
    return job


def _actor_role(request: HttpRequest, study: Study) -> str:
    if isinstance(request.user, LinkVisitor):
        return VISITOR_ACTOR_ROLE
    member = policy.membership(request.user, study.tenant)
    return member.role if member is not None else ""


def _base_template(request: HttpRequest) -> str:
    return "sharing/links/visitor_base.html" if isinstance(request.user, LinkVisitor) else "base.html"


@private_page
@csrf_exempt  # share link visitors' pages are no-referrer: csrf.py checks instead of the site-wide check
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
def choose_format(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    study = _downloadable_study(request, study_uid)
    if request.method == "POST":
        archive_format = request.POST.get("format", "")
        if archive_format in DownloadJob.IDENTIFIED_FORMATS:
            job = services.request_download(request.user, study, archive_format)
            return redirect(_job_url("study-download-progress", study, job))
    return render(
        request,
        "downloads/choose.html",
        {
            "base_template": _base_template(request),
            "tenant": study.tenant,
            "study": study,
            "formats": [(value, DownloadJob.Format(value).label) for value in DownloadJob.IDENTIFIED_FORMATS],
            "invalid": request.method == "POST",
            "lifetime_hours": services.link_lifetime().total_seconds() // 3600,
        },
        status=400 if request.method == "POST" else 200,
    )


@private_page
@require_safe
def progress(request: HttpRequest, tenant_slug: str, study_uid: str, download_id: UUID) -> HttpResponse:
    study = _downloadable_study(request, study_uid)
    job = _own_job(request, study, download_id)
    if job.is_expired_at():
        return _expired(request)
    return render(
        request,
        "downloads/progress.html",
        {
            "base_template": _base_template(request),
            "tenant": study.tenant,
            "study": study,
            "job": job,
            "status_url": _job_url("study-download-status", study, job),
            "file_url": _job_url("study-download-file", study, job),
        },
    )


@private_page
@require_safe
def status(request: HttpRequest, tenant_slug: str, study_uid: str, download_id: UUID) -> HttpResponse:
    study = _downloadable_study(request, study_uid)
    job = _own_job(request, study, download_id)
    expired = job.is_expired_at()
    return JsonResponse(
        {
            "state": "expired" if expired else job.state,
            "done": job.progress_done,
            "total": job.progress_total,
            "error": job.error,
            "expires_at": job.expires_at.isoformat(),
            "file_url": _job_url("study-download-file", study, job)
            if job.state == DownloadJob.State.READY and not expired
            else None,
        }
    )


@private_page
@require_safe
def archive(request: HttpRequest, tenant_slug: str, study_uid: str, download_id: UUID) -> HttpResponse:
    """The transfer itself: audited as DOWNLOAD before its first byte, like a WADO-RS retrieval."""
    study = _downloadable_study(request, study_uid)
    job = _own_job(request, study, download_id)
    if job.is_expired_at() or (job.state == DownloadJob.State.READY and not job.storage_name):
        return _expired(request)
    if job.state != DownloadJob.State.READY:
        raise Http404
    job.study = study
    data_key = services.archive_key(job)
    deidentified = job.format == DownloadJob.Format.DEIDENTIFIED_DICOM_ZIP
    audit.record_access(
        AuditAction.DEIDENTIFIED_DOWNLOAD if deidentified else AuditAction.DOWNLOAD,
        request=request,
        tenant=study.tenant,
        actor_role=_actor_role(request, study),
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"format": job.format, "job": str(job.pk)},
    )
    services.count_transfer(job)
    response = StreamingHttpResponse(services.archive_chunks(job, data_key), content_type="application/zip")
    response["Content-Length"] = str(job.archive_size)
    suffix = {
        DownloadJob.Format.JPEG_ZIP: "jpeg",
        DownloadJob.Format.DEIDENTIFIED_DICOM_ZIP: "deidentified",
    }.get(job.format, "dicom")
    response["Content-Disposition"] = f'attachment; filename="study-{job.pk.hex[:12]}-{suffix}.zip"'
    return response


def _expired(request: HttpRequest) -> HttpResponse:
    return render(request, "downloads/expired.html", {"base_template": _base_template(request)}, status=410)


def _job_url(name: str, study: Study, job: DownloadJob) -> str:
    return reverse(
        name,
        kwargs={
            "tenant_slug": study.tenant.slug,
            "study_uid": study.study_instance_uid,
            "download_id": job.pk,
        },
    )
