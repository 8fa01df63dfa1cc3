"""Research exports: start one, run it (a Celery worker, imaging.research.tasks), hand its archive over,
and forget the archive when it expires; and the `deidentify` command's export into a folder.

An export runs its project over the studies its query selects, keeps the patients who consent to
research use when it runs, de-identifies each object (imaging.research.deidentification) and hands the
files to the project's destination (imaging.research.destinations), a study at a time.
"""

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.db import transaction
from django.db.models import F, Sum
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import AuditAction, Outcome
from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import BlobIntegrityError
from imaging.deid import Profile, ProjectKeys
from imaging.dicomweb.wado_resources import Target
from imaging.downloads import services as downloads
from imaging.models import Study
from imaging.objects import RequestKeys
from imaging.research import sealing, selectors
from imaging.research.deidentification import Deidentifier, Tally
from imaging.research.destinations import (
    ARCHIVE_KEY,
    Destination,
    DestinationRefused,
    Folder,
    open_destination,
)
from imaging.research.models import DeviceMask, ResearchExport, ResearchProject
from imaging.research.selectors import Selection, StudyQuery
from imaging.research.services import ProjectRefused, actor_role, project_keys
from portal.models import Tenant

log = logging.getLogger(__name__)


def start_export(
    *, project: ResearchProject, query: StudyQuery, actor, request: HttpRequest | None = None
) -> ResearchExport:
    """A queued export of `project` over `query`, sent to a worker once the transaction commits."""
    with transaction.atomic():
        export = ResearchExport.objects.create(
            tenant=project.tenant, project=project, query=query.to_json(), created_by=actor
        )
        audit.record(
            AuditAction.RESEARCH_EXPORT_STARTED,
            request=request,
            actor=actor,
            tenant=project.tenant,
            actor_role=actor_role(actor, project.tenant),
            object_type="research_export",
            object_ids=[str(export.pk)],
            details={
                "project": str(project.pk),
                "destination": project.destination,
                "options": project.options,
            },
        )
        enqueue(export)
    return export


def enqueue(export: ResearchExport) -> None:
    from imaging.research.tasks import run_research_export

    transaction.on_commit(lambda: run_research_export.delay(str(export.pk), export.tenant_id))


def run_export(export_id: str) -> ResearchExport | None:
    """Run the export; idempotent (a finished export is left as it is, one cut off mid-way runs again
    from the start: the pseudonyms are keyed, so the same objects come out the same). Call inside the
    export's tenant scope. OSError (a full disk, storage or destination unreachable) propagates for the
    task to retry; anything retrying cannot mend fails the export with a reason."""
    export = (
        ResearchExport.objects.select_related(
            "project", "project__destination_tenant", "tenant", "created_by"
        )
        .filter(pk=export_id)
        .first()
    )
    if export is None or export.state in (ResearchExport.State.DONE, ResearchExport.State.FAILED):
        return export
    project = export.project
    try:
        profile = project.profile()
    except ValueError as refusal:
        return fail(export, f"The project's options are refused: {refusal}")
    selection = selectors.consented_selection(StudyQuery.from_json(export.query))
    total = sum(study.number_of_instances for study in selection.studies)
    _update(export, state=ResearchExport.State.RUNNING, progress_done=0, progress_total=total, error="")
    deidentifier = Deidentifier(
        profile,
        project_keys(project),
        DeviceMask.pixel_policy(project.burned_in),
        Tally(patients_left_out=selection.patients_left_out),
    )
    progress = _Progress(export)
    try:
        with tempfile.TemporaryDirectory(prefix="palisade-research-") as scratch:
            destination = open_destination(export, Path(scratch))
            export_studies(selection.studies, deidentifier, destination, Path(scratch), progress.step)
            destination.finish()
    except (BlobIntegrityError, KeyManagementError) as failure:
        log.warning("Research export %s failed: %s", export.pk, type(failure).__name__)
        return fail(export, f"A stored image could not be read ({type(failure).__name__}).")
    except DestinationRefused as refusal:
        return fail(export, str(refusal))
    report = _report(deidentifier, destination, selection)
    is_archive = bool(export.storage_name)
    _update(
        export,
        state=ResearchExport.State.DONE,
        progress_done=progress.done,
        progress_total=progress.done,
        report=report,
        finished_at=timezone.now(),
        region=export.region,
        storage_name=export.storage_name,
        archive_key_sealed=export.archive_key_sealed,
        archive_size=export.archive_size,
        expires_at=timezone.now() + downloads.link_lifetime() if is_archive else None,
    )
    _record_finished(export, Outcome.SUCCESS, report)
    return export


def export_studies(
    studies: Iterable[Study],
    deidentifier: Deidentifier,
    destination: Destination,
    scratch: Path,
    on_instance: Callable[[], None] = lambda: None,
) -> None:
    """De-identify each object of `studies` into `scratch`, a study at a time, for `destination`."""
    number = 0
    for study in studies:
        keys = RequestKeys()  # one study's key, unwrapped once for its objects
        for stored in Target(study, [], "study").stored_objects():
            data = deidentifier.file_of(stored, keys.data_key(stored))
            on_instance()
            if data is None:
                continue
            number += 1
            path = scratch / f"{number:07d}.dcm"
            path.write_bytes(data)
            destination.add(path)
        destination.end_study()


def _report(deidentifier: Deidentifier, destination: Destination, selection: Selection) -> dict:
    tally = deidentifier.tally
    delivered_refusals = sum(destination.refused.values())
    tally.refused.update(destination.refused)
    tally.instances -= delivered_refusals
    return tally.report(deidentifier.profile) | {
        "studies_matched": selection.studies_matched,
        "patients": selection.patients_with_consent,
    }


def fail(export: ResearchExport, reason: str) -> ResearchExport:
    """End the export as failed, with a reason to show (no PHI), audited."""
    _update(export, state=ResearchExport.State.FAILED, error=reason[:300], finished_at=timezone.now())
    _record_finished(export, Outcome.FAILURE, {"error": export.error})
    return export


def _record_finished(export: ResearchExport, outcome: Outcome, report: dict) -> None:
    details = {"project": str(export.project_id)} | {
        key: report[key]
        for key in ("studies", "instances", "patients_left_out", "refused_total", "error")
        if key in report
    }
    audit.record(
        AuditAction.RESEARCH_EXPORT_FINISHED,
        actor=export.created_by,
        tenant=export.tenant,
        actor_role=actor_role(export.created_by, export.tenant),
        outcome=outcome,
        object_type="research_export",
        object_ids=[str(export.pk)],
        details=details,
    )


class _Progress:
    """Writes the export's progress at most every downloads.PROGRESS_EVERY seconds."""

    def __init__(self, export: ResearchExport) -> None:
        self.export = export
        self.done = 0
        self._written_at = time.monotonic()

    def step(self) -> None:
        self.done += 1
        if time.monotonic() - self._written_at >= downloads.PROGRESS_EVERY:
            _update(self.export, progress_done=self.done)
            self._written_at = time.monotonic()


def _update(export: ResearchExport, **fields) -> None:
    for name, value in fields.items():
        setattr(export, name, value)
    ResearchExport.objects.filter(pk=export.pk).update(updated_at=timezone.now(), **fields)


def archive_key(export: ResearchExport) -> bytes:
    """The archive's data key: call in scope, as the transfer starts."""
    return sealing.unseal(
        export.tenant_id, bytes(export.archive_key_sealed), row_id=export.pk, purpose=ARCHIVE_KEY
    )


def record_download(export: ResearchExport, request: HttpRequest) -> None:
    """Audited before the first byte, like a study download."""
    audit.record(
        AuditAction.DEIDENTIFIED_DOWNLOAD,
        request=request,
        tenant=export.tenant,
        actor_role=actor_role(request.user, export.tenant),
        object_type="research_export",
        object_ids=[str(export.pk)],
        details={"project": str(export.project_id)},
    )
    ResearchExport.objects.filter(pk=export.pk).update(downloaded_count=F("downloaded_count") + 1)


def stalled_exports(now=None):
    cutoff = (now or timezone.now()) - downloads.STALLED_AFTER
    return ResearchExport.objects.filter(state=ResearchExport.State.QUEUED, updated_at__lt=cutoff)


def forget_expired(now=None) -> int:
    """Delete the archives of expired exports (the rows and their reports stay, as the record)."""
    return downloads.forget_expired_archives(
        ResearchExport.objects.all(), key_field="archive_key_sealed", now=now
    )


def preview(query: StudyQuery) -> dict:
    """What an export of `query` would take now: counts only."""
    selection = selectors.consented_selection(query)
    instances = Study.objects.filter(pk__in=[study.pk for study in selection.studies]).aggregate(
        total=Sum("number_of_instances")
    )["total"]
    return {
        "studies_matched": selection.studies_matched,
        "studies": len(selection.studies),
        "instances": instances or 0,
        "patients": selection.patients_with_consent,
        "patients_left_out": selection.patients_left_out,
    }


def export_to_folder(
    tenant: Tenant, study_uids: list[str], out: Path, *, options: list[str], project: ResearchProject | None
) -> dict:
    """The `deidentify` command: the studies of the scoped clinic named by `study_uids`, de-identified into
    `out` (an empty folder), with the project's options and pseudonyms or with `options` and fresh ones.
    Raises ProjectRefused (bad options, unknown UIDs) before writing anything. Audited as an export by
    an operator."""
    try:
        profile = project.profile() if project else Profile.from_names(options)
    except ValueError as refusal:
        raise ProjectRefused(str(refusal)) from None
    studies = list(selectors.matching_studies(StudyQuery(study_uids=tuple(study_uids))))
    unknown = sorted(set(study_uids) - {study.study_instance_uid for study in studies})
    if unknown:
        raise ProjectRefused(f"Not studies of clinic {tenant.slug}: {', '.join(unknown)}")
    selection = selectors.split_by_consent(studies)
    deidentifier = Deidentifier(
        profile,
        project_keys(project) if project else ProjectKeys.generate(),
        DeviceMask.pixel_policy(project.burned_in if project else ResearchProject.BurnedIn.REFUSE),
        Tally(patients_left_out=selection.patients_left_out),
    )
    destination = Folder(out)
    with tempfile.TemporaryDirectory(prefix=".palisade-deidentify-", dir=out) as scratch:
        export_studies(selection.studies, deidentifier, destination, Path(scratch))
    report = _report(deidentifier, destination, selection)
    audit.record(
        AuditAction.RESEARCH_EXPORT_FINISHED,
        tenant=tenant,
        actor_role="platform_operator",
        object_type="study",
        object_ids=[study.study_instance_uid for study in selection.studies],
        details={"by": "command", "project": str(project.pk) if project else ""}
        | {
            key: report[key]
            for key in ("options", "studies", "instances", "patients_left_out", "refused_total")
        },
    )
    return report
