"""Receiving one file sent by the upload page: a DICOM object or a ZIP of them."""

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.uploadedfile import TemporaryUploadedFile

from accounts.models import User
from imaging.ingest.limits import IngestLimits
from imaging.ingest.receive import receive_path
from imaging.models import IngestJob
from imaging.storage import StorageFull
from portal.models import Tenant

# IngestJob.display_name's length.
MAX_DISPLAY_NAME = 255
# Room for the multipart framing and the relative-path field around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


@dataclass
class UploadOutcome:
    jobs: list[IngestJob] = field(default_factory=list)
    # The region ran out of room part-way: the jobs listed were received, the rest of the file was not.
    storage_full: bool = False


def max_upload_bytes(limits: IngestLimits) -> int:
    """The largest file the page may send: a ZIP may weigh what it may hold, a lone object what an
    object may weigh. Which of the two a file is, the server only learns once it has the bytes."""
    return max(limits.max_object_bytes, limits.max_zip_bytes)


def display_name_for(relative_path: str, fallback: str) -> str:
    """The name people see for an uploaded file: the folder path the browser sent, as plain text.

    It never becomes a file system path (the server names its own files), but it is shown on pages and
    stored on the job, so control and bidi-override characters are dropped (THREATS.md 6), and `.`/`..`
    segments with them. When too long, the start is cut: the file name at the end matters most.
    """
    text = "".join(c for c in relative_path.replace("\\", "/") if unicodedata.category(c) not in ("Cc", "Cf"))
    segments = [segment.strip() for segment in text.split("/")]
    name = "/".join(segment for segment in segments if segment not in ("", ".", "..")) or fallback
    if len(name) > MAX_DISPLAY_NAME:
        name = "…" + name[-(MAX_DISPLAY_NAME - 1) :]
    return name


def receive_upload(
    tenant: Tenant, uploaded: TemporaryUploadedFile, *, display_name: str, submitted_by: User
) -> UploadOutcome:
    """Receive the uploaded file (one object, or each member of a ZIP) and delete it, whatever happens.
    Call inside the tenant's scope."""
    outcome = UploadOutcome()
    try:
        jobs = receive_path(
            tenant,
            Path(uploaded.temporary_file_path()),
            source=IngestJob.Source.UPLOAD,
            display_name=display_name,
            submitted_by=submitted_by,
        )
        for job in jobs:
            outcome.jobs.append(job)
    except StorageFull:
        # Nothing of the objects being written was kept (receive discards them); the sender may retry.
        outcome.storage_full = True
    finally:
        # A TemporaryUploadedFile deletes its file on close: plaintext PHI does not wait for the
        # end of the request.
        uploaded.close()
    return outcome
