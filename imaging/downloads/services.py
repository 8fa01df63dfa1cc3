"""Study downloads: ask for one, build it (a Celery worker), hand it over, and forget it when it expires.

Design (docs/downloads.md; chosen over streaming a ZIP on the fly, which shows no real progress): the
worker builds the whole archive into a temporary file on its own disk,
then stores it encrypted like every other blob (imaging.crypto.segments, a random data key sealed by
the study's key, as thumbnails are), and deletes the temporary file. The download then decrypts the
stored archive segment by segment to the client. So memory stays at a segment or two whatever the
study's size, progress is real (instances done of all), the transfer can be repeated until the link
expires, and shredding the study's key shreds every archive of it too.
"""

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.policy import LinkVisitor
from imaging.crypto.keys import KEY_BYTES
from imaging.crypto.object_keys import open_for_study, seal_for_study
from imaging.crypto.providers import KeyManagementError
from imaging.crypto.segments import BlobIntegrityError, decrypt_stream, encrypt_stream
from imaging.dicomweb.wado_resources import Target
from imaging.downloads import archives
from imaging.downloads.models import DownloadJob
from imaging.models import Study
from imaging.objects import RequestKeys
from imaging.storage import delete_object, durable_writer, open_object
from portal.consents.services import ConsentRequired

log = logging.getLogger(__name__)

# A queued job untouched this long lost its message: the sweeper queues it again.
STALLED_AFTER = timedelta(minutes=2)
# Progress is written at most this often (seconds), and at the end.
PROGRESS_EVERY = 0.5

_WRITERS = {
    DownloadJob.Format.DICOM_ZIP: archives.write_dicom_zip,
    DownloadJob.Format.JPEG_ZIP: archives.write_jpeg_zip,
}


class DownloadFailed(Exception):
    """The archive cannot be built (a stored object fails authentication, the study's key is gone)."""


def link_lifetime() -> timedelta:
    return timedelta(hours=settings.PALISADE_DOWNLOAD_LINK_HOURS)


def request_download(
    user, study: Study, archive_format: str, *, deid_options: Iterable[str] = (), deid_project=None
) -> DownloadJob:
    """A new job for `user` (a member, or a share link's visitor), queued once the transaction commits.
    The caller has asked the policy (DOWNLOAD_STUDY; for a de-identified one, imaging.research asked
    DOWNLOAD_DEIDENTIFIED and the patient's consent). Call inside the study's tenant scope."""
    link = user.share_link if isinstance(user, LinkVisitor) else None
    job = DownloadJob.objects.create(
        tenant_id=study.tenant_id,
        study=study,
        requested_by=user if user.is_authenticated else None,
        share_link=link,
        format=archive_format,
        progress_total=study.number_of_instances,
        expires_at=timezone.now() + link_lifetime(),
        deid_options=list(deid_options),
        deid_project=deid_project,
    )
    enqueue(job)
    return job


def enqueue(job: DownloadJob) -> None:
    from imaging.downloads.tasks import build_study_download

    transaction.on_commit(lambda: build_study_download.delay(str(job.pk), job.tenant_id))


def jobs_of(user, study: Study):
    """The download jobs `user` asked for on `study`: their own, never anyone else's."""
    jobs = DownloadJob.objects.filter(study=study)
    if isinstance(user, LinkVisitor):
        return jobs.filter(share_link=user.share_link, requested_by__isnull=True)
    if not user.is_authenticated:
        return jobs.none()
    return jobs.filter(requested_by=user)


def build_download(job_id: str) -> DownloadJob | None:
    """Build and store the job's archive; idempotent (a ready or failed job is left as it is, a job cut
    off mid-way is built again from the start). Call inside the job's tenant scope. OSError (a full
    disk, storage unreachable) propagates for the task to retry; anything that retrying cannot mend
    fails the job with a reason."""
    job = DownloadJob.objects.select_related("study", "study__tenant").filter(pk=job_id).first()
    if job is None or job.state in (DownloadJob.State.READY, DownloadJob.State.FAILED):
        return job
    stored = Target(job.study, [], "study").stored_objects()
    _update(job, state=DownloadJob.State.BUILDING, progress_done=0, progress_total=len(stored))
    try:
        keys = RequestKeys()
        keyed = [(item, keys.data_key(item)) for item in stored]
        _store_archive(job, keyed)
    except (BlobIntegrityError, KeyManagementError) as failure:
        log.warning("Download %s failed: %s", job.pk, failure)
        fail(job, f"A stored image could not be read ({type(failure).__name__}).")
        return job
    except ConsentRequired as refusal:
        # A de-identified download whose patient withdrew research consent since asking.
        fail(job, str(refusal))
        return job
    _update(
        job,
        state=DownloadJob.State.READY,
        progress_done=len(stored),
        expires_at=timezone.now() + link_lifetime(),
        region=job.region,
        storage_name=job.storage_name,
        wrapped_key=job.wrapped_key,
        archive_size=job.archive_size,
        deid_report=job.deid_report,
    )
    return job


def fail(job: DownloadJob, reason: str) -> None:
    _update(job, state=DownloadJob.State.FAILED, error=reason[:300])


def _store_archive(job: DownloadJob, keyed: archives.Keyed) -> None:
    progress = _ProgressWriter(job)
    deidentifier = None
    if job.format == DownloadJob.Format.DEIDENTIFIED_DICOM_ZIP:
        # Imported here: imaging.research builds on this app (its jobs, archives and expiry).
        from imaging.research.services import deidentifier_for_download

        deidentifier = deidentifier_for_download(job)
    with tempfile.TemporaryFile(prefix="palisade-download-") as archive:
        if deidentifier is not None:
            archives.write_deidentified_zip(keyed, archive, progress.step, deidentifier.file_of)
            job.deid_report = deidentifier.tally.report(deidentifier.profile)
        else:
            _WRITERS[job.format](keyed, archive, progress.step)
        progress.flush()
        archive.seek(0)
        data_key = os.urandom(KEY_BYTES)
        job.region = job.study.tenant.home_region
        job.storage_name = f"{job.tenant_id}/downloads/{job.pk.hex}"
        with durable_writer(job.region, job.storage_name) as sink:
            digest = encrypt_stream(data_key, archive, sink, tenant_id=job.tenant_id, object_id=str(job.pk))
    job.wrapped_key = seal_for_study(job.study, data_key, job.pk)
    job.archive_size = digest.plaintext_size


class _ProgressWriter:
    def __init__(self, job: DownloadJob) -> None:
        self.job = job
        self.done = 0
        self._written_at = time.monotonic()

    def step(self) -> None:
        self.done += 1
        if time.monotonic() - self._written_at >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        _update(self.job, progress_done=self.done)
        self._written_at = time.monotonic()


def _update(job: DownloadJob, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    DownloadJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)


def archive_key(job: DownloadJob) -> bytes:
    """The archive's data key, unwrapped by the study's key: call in scope, as the download starts."""
    return open_for_study(job.study, bytes(job.wrapped_key), job.pk)


def archive_chunks(row, data_key: bytes) -> Iterator[bytes]:
    """The bytes of the archive a row stored (a DownloadJob, or a research export, which stores its
    archives the same way: `region`, `storage_name`, bound to the row's tenant and id), segment by
    segment; reads files only, no database."""
    with open_object(row.region, row.storage_name) as ciphertext:
        yield from decrypt_stream(data_key, ciphertext, tenant_id=row.tenant_id, object_id=str(row.pk))


def count_transfer(job: DownloadJob) -> None:
    DownloadJob.objects.filter(pk=job.pk).update(downloaded_count=F("downloaded_count") + 1)


def stalled_jobs(now=None):
    cutoff = (now or timezone.now()) - STALLED_AFTER
    return DownloadJob.objects.filter(state=DownloadJob.State.QUEUED, updated_at__lt=cutoff)


def forget_expired(now=None) -> int:
    """Delete the archives of expired jobs (the rows stay, as the record of what was asked)."""
    return forget_expired_archives(DownloadJob.objects.all(), key_field="wrapped_key", now=now)


def forget_expired_archives(rows, *, key_field: str, now=None) -> int:
    """Delete the stored archive of every expired row of `rows` and forget its key (`key_field`); the
    rows stay. Shared with research exports, which keep their archives as downloads do."""
    expired = rows.filter(expires_at__lte=now or timezone.now()).exclude(storage_name="")
    count = 0
    for row in expired:
        delete_object(row.region, row.storage_name)
        rows.filter(pk=row.pk).update(storage_name="", **{key_field: None})
        count += 1
    return count
