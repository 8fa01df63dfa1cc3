"""Research pages of a clinic, under /t/<clinic>/research/, and a study's de-identified download.

Open to members the policy lets manage research (MANAGE_RESEARCH: clinic admins and radiologists); the
de-identified download to whoever may DOWNLOAD_DEIDENTIFIED the study. Anyone else gets 404, audited by
audit/middleware.py, as on every clinic page. The pages are private (no cache, no Referer); their forms
take the Fetch Metadata CSRF check that goes with no-referrer (portal.sharing.links.csrf). Each view
parses, asks the policy, and calls imaging.research.services, .exports or .selectors.
"""

from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import policy
from imaging.deid import Option
from imaging.downloads import services as downloads
from imaging.models import Study
from imaging.research import exports, selectors, services
from imaging.research.forms import DeidentifiedDownloadForm, DeviceMaskForm, ExportForm, ProjectForm
from imaging.research.models import DeviceMask, ResearchExport, ResearchProject
from portal.consents.models import ConsentPurpose
from portal.consents.services import ConsentRequired, require_consent
from portal.decorators import private_page, tenant_action_required
from portal.sharing.links.csrf import no_referrer_csrf_protect


def research_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return private_page(
        csrf_exempt(no_referrer_csrf_protect(tenant_action_required(policy.Action.MANAGE_RESEARCH)(view)))
    )


def _project(project_id: UUID) -> ResearchProject:
    return get_object_or_404(selectors.projects(), pk=project_id)


def _export(export_id: UUID) -> ResearchExport:
    return get_object_or_404(ResearchExport.objects.select_related("project", "tenant"), pk=export_id)


@research_page
@require_safe
def project_list(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return render(
        request,
        "research/projects.html",
        {"tenant": request.tenant, "projects": selectors.projects().order_by("name")},
    )


@research_page
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return _project_form(request, None)


@research_page
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, tenant_slug: str, project_id: UUID) -> HttpResponse:
    return _project_form(request, _project(project_id))


def _project_form(request: HttpRequest, project: ResearchProject | None) -> HttpResponse:
    clinics = services.destination_clinics(request.user, request.tenant)
    if request.method == "POST":
        form = ProjectForm(request.POST, destination_clinics=clinics)
        if form.is_valid():
            try:
                project = services.save_project(
                    tenant=request.tenant,
                    actor=request.user,
                    values=form.project_values(),
                    project=project,
                    stow_token=form.new_stow_token(),
                    request=request,
                )
            except services.ProjectRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(request, "Project saved.")
                return redirect(_project_url(project))
    else:
        initial = (
            ProjectForm.initial_of(project) if project else {"burned_in": "refuse", "destination": "zip"}
        )
        form = ProjectForm(initial=initial, destination_clinics=clinics)
    return render(
        request,
        "research/project_form.html",
        {"tenant": request.tenant, "project": project, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@research_page
@require_safe
def project_detail(request: HttpRequest, tenant_slug: str, project_id: UUID) -> HttpResponse:
    project = _project(project_id)
    exports = list(selectors.exports_of(project)[:50])
    return render(
        request,
        "research/project_detail.html",
        {
            "tenant": request.tenant,
            "project": project,
            "options": [Option(name) for name in project.options],
            "exports": [(export, _export_urls(export)) for export in exports],
        },
    )


@research_page
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest, tenant_slug: str, project_id: UUID) -> HttpResponse:
    project = _project(project_id)
    form = ExportForm(request.POST if request.method == "POST" else None)
    counts = None
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "start":
            exports.start_export(project=project, query=form.query(), actor=request.user, request=request)
            messages.success(request, "Export started.")
            return redirect(_project_url(project))
        counts = exports.preview(form.query())
    return render(
        request,
        "research/export_new.html",
        {"tenant": request.tenant, "project": project, "form": form, "counts": counts},
        status=400 if request.method == "POST" and not form.is_valid() else 200,
    )


@research_page
@require_safe
def export_status(request: HttpRequest, tenant_slug: str, export_id: UUID) -> HttpResponse:
    export = _export(export_id)
    return JsonResponse(
        {
            "state": "expired" if export.is_expired_at() else export.state,
            "done": export.progress_done,
            "total": export.progress_total,
            "error": export.error,
            "report": export.report,
            "file_url": _export_urls(export)["file"] if export.has_archive else None,
        }
    )


@research_page
@require_safe
def export_file(request: HttpRequest, tenant_slug: str, export_id: UUID) -> HttpResponse:
    """The archive of a `zip` export, for the clinic's research managers; audited before its first byte."""
    export = _export(export_id)
    if export.state == ResearchExport.State.DONE and export.expires_at and not export.has_archive:
        return render(request, "downloads/expired.html", {"base_template": "base.html"}, status=410)
    if not export.has_archive:
        raise Http404
    data_key = exports.archive_key(export)
    exports.record_download(export, request)
    response = StreamingHttpResponse(
        downloads.archive_chunks(export, data_key), content_type="application/zip"
    )
    response["Content-Length"] = str(export.archive_size)
    response["Content-Disposition"] = f'attachment; filename="research-export-{export.pk.hex[:12]}.zip"'
    return response


@research_page
@require_http_methods(["GET", "POST"])
def device_masks(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = DeviceMaskForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.save_device_mask(
            tenant=request.tenant, actor=request.user, values=form.cleaned_data, request=request
        )
        messages.success(request, "Device saved.")
        return redirect("research-device-masks", tenant_slug=request.tenant.slug)
    return render(
        request,
        "research/device_masks.html",
        {"tenant": request.tenant, "masks": selectors.device_masks(), "form": form},
        status=400 if request.method == "POST" else 200,
    )


@research_page
@require_POST
def device_mask_delete(request: HttpRequest, tenant_slug: str, mask_id: int) -> HttpResponse:
    mask = get_object_or_404(DeviceMask, pk=mask_id)
    services.remove_device_mask(mask=mask, actor=request.user, request=request)
    messages.success(request, "Device removed.")
    return redirect("research-device-masks", tenant_slug=request.tenant.slug)


@private_page
@csrf_exempt
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
def study_deidentified(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    """Choose options (or a project) and have the study built as a de-identified ZIP by the downloads job
    machinery; its progress page is the study download's."""
    if getattr(request, "tenant", None) is None or not request.user.is_authenticated:
        raise Http404
    study = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=study_uid).first()
    if study is None or not policy.can(request.user, policy.Action.DOWNLOAD_DEIDENTIFIED, study):
        raise Http404
    projects = selectors.projects().order_by("name")
    form = DeidentifiedDownloadForm(request.POST if request.method == "POST" else None, projects=projects)
    refusal = ""
    try:
        # Said up front; the request and the build ask again (imaging.research.services).
        require_consent(study.patient, ConsentPurpose.RESEARCH_DEIDENTIFIED)
    except ConsentRequired as missing:
        refusal = str(missing)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.request_deidentified_download(
                request.user,
                study,
                options=form.cleaned_data["options"],
                project=form.cleaned_data["project"],
            )
        except (ConsentRequired, services.ProjectRefused) as refused:
            refusal = str(refused)
        else:
            return redirect(
                reverse(
                    "study-download-progress",
                    kwargs={"tenant_slug": study.tenant.slug, "study_uid": study_uid, "download_id": job.pk},
                )
            )
    return render(
        request,
        "research/study_deidentified.html",
        {"tenant": study.tenant, "study": study, "form": form, "refusal": refusal},
        status=400 if request.method == "POST" else 200,
    )


def _project_url(project: ResearchProject) -> str:
    return reverse("research-project", kwargs={"tenant_slug": project.tenant.slug, "project_id": project.pk})


def _export_urls(export: ResearchExport) -> dict:
    kwargs = {"tenant_slug": export.tenant.slug, "export_id": export.pk}
    return {
        "status": reverse("research-export-status", kwargs=kwargs),
        "file": reverse("research-export-file", kwargs=kwargs),
    }
