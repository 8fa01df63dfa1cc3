"""Storing the parts of a STOW-RS request through the one ingest entry point, receive_files."""

from collections.abc import Sequence
from dataclasses import dataclass

from imaging.dicomweb.multipart import DICOM_MEDIA_TYPE, BodyPart
from imaging.dicomweb.responses import InstanceOutcome
from imaging.ingest.errors import FailureReason
from imaging.ingest.receive import PATH_BATCH, Upload, receive_files
from imaging.models import IngestJob
from imaging.storage import StorageFull
from portal.models import Tenant


@dataclass(frozen=True)
class StowResult:
    outcomes: list[InstanceOutcome]
    storage_full: bool = False


def store_parts(
    tenant: Tenant, parts: Sequence[BodyPart], *, submitted_by, study_uid: str | None = None
) -> StowResult:
    """Receive every part, in batches made durable together, deleting each part's file once received.
    Call inside the tenant's scope. A full store stops the request: the parts of the batch in hand and
    those after it fail with Out of Resources (nothing of that batch was kept)."""
    outcomes: list[InstanceOutcome | None] = [None] * len(parts)
    readable: list[int] = []
    for position, part in enumerate(parts):
        # A part that declares another media type than the request's is refused unread, whatever it
        # holds (PS3.18 10.5.1.2: every part is of the type parameter). A part that names no type takes
        # the request's, and a part that claims to be DICOM and is not is refused by the parse boundary.
        if part.content_type not in (None, DICOM_MEDIA_TYPE):
            outcomes[position] = InstanceOutcome(failure_reason=FailureReason.CANNOT_UNDERSTAND)
        else:
            readable.append(position)
    try:
        for start in range(0, len(readable), PATH_BATCH):
            batch = readable[start : start + PATH_BATCH]
            try:
                jobs = receive_files(
                    tenant,
                    [Upload(parts[i].path, f"STOW-RS part {parts[i].number}") for i in batch],
                    source=IngestJob.Source.STOW,
                    submitted_by=submitted_by,
                    expected_study_uid=study_uid,
                )
            except StorageFull:
                refused = InstanceOutcome(failure_reason=FailureReason.OUT_OF_RESOURCES)
                for position in readable[start:]:
                    outcomes[position] = refused
                return StowResult(outcomes, storage_full=True)
            for position, job in zip(batch, jobs, strict=True):
                outcomes[position] = _outcome(job)
    finally:
        for part in parts:
            part.path.unlink(missing_ok=True)
    return StowResult(outcomes)


def _outcome(job: IngestJob) -> InstanceOutcome:
    if job.state == IngestJob.State.REJECTED:
        return InstanceOutcome(sop_instance_uid=job.sop_instance_uid, failure_reason=job.failure_reason)
    return InstanceOutcome(
        sop_class_uid=job.attributes.get("sop_class_uid", ""),
        sop_instance_uid=job.sop_instance_uid,
        study_instance_uid=job.attributes.get("study_instance_uid", ""),
        series_instance_uid=job.attributes.get("series_instance_uid", ""),
    )
