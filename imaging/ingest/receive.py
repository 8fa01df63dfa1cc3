"""Receiving an object: parse at the boundary, encrypt once into durable storage, record the job.

Every entry point (STOW-RS, web upload, import_dicom, C-STORE) calls `receive_file`. The object is
parsed here rather than in the worker so that the sender learns at once, per instance, what was
refused and why (PS3.18 10.5.3 answers with the UIDs and a failure reason for each), and so that
the bytes are written once, already encrypted, to where they will stay. The job row is the outbox:
indexing (imaging.ingest.index) runs in a Celery worker, and a sweeper re-queues jobs whose
message was lost, so a dead broker or a killed worker delays indexing but loses nothing.
"""

import dataclasses
import datetime
import logging
import os
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

import audit
from audit.models import AuditAction, Outcome
from imaging.crypto.keys import current_tenant_key
from imaging.crypto.models import TenantKey
from imaging.crypto.object_keys import new_object_key
from imaging.crypto.segments import BlobDigest, encrypt_stream
from imaging.ingest.archives import iter_archive_members
from imaging.ingest.errors import IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import ParsedInstance, parse_instance, zeroed_preamble_reader
from imaging.models import IngestJob, StoredObject
from imaging.storage import DurableBatch, delete_object
from portal.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """One file to receive, and the name to show its sender."""

    path: Path
    display_name: str = ""


def receive_file(
    tenant: Tenant,
    path: Path,
    *,
    source: IngestJob.Source,
    display_name: str = "",
    submitted_by=None,
    limits: IngestLimits | None = None,
    expected_study_uid: str | None = None,
) -> IngestJob:
    """Receive one file; see receive_files."""
    (job,) = receive_files(
        tenant,
        [Upload(path, display_name)],
        source=source,
        submitted_by=submitted_by,
        limits=limits,
        expected_study_uid=expected_study_uid,
    )
    return job


def receive_files(
    tenant: Tenant,
    uploads: list[Upload],
    *,
    source: IngestJob.Source,
    submitted_by=None,
    limits: IngestLimits | None = None,
    expected_study_uid: str | None = None,
    origin: dict | None = None,
    enqueue: Callable[[list[IngestJob]], None] | None = None,
) -> list[IngestJob]:
    """Accept or refuse each file for `tenant`, returning a job per file in order. Call inside the
    tenant's scope. `origin` names a sender that is not a user, by identifiers (a DIMSE peer's calling
    AE title): the files' audit events, STORE and STORE_REJECTED, carry it in their details.
    `enqueue` is handed the stored jobs once committed (default: enqueue_indexing, one indexing message
    now; a DICOM association batches them with imaging.ingest.batching).

    A refused file's job is REJECTED with a reason a technologist can act on. The accepted files are
    encrypted into storage, made durable together (one round of fsyncs for the batch), and recorded
    in one transaction with one indexing message. Raises imaging.storage.StorageFull when the region
    has no room; then nothing of the accepted files is kept. With `expected_study_uid` (STOW-RS to
    /studies/{study}), an instance of another study is refused.
    """
    jobs: list[IngestJob | None] = [None] * len(uploads)
    accepted: list[tuple[int, Upload, ParsedInstance]] = []
    for position, upload in enumerate(uploads):
        display_name = upload.display_name[:255]
        try:
            parsed = parse_instance(upload.path, limits=limits)
        except IngestRejected as rejection:
            jobs[position] = _record_rejection(
                tenant, rejection, source, display_name, submitted_by, origin=origin
            )
            continue
        if expected_study_uid is not None and parsed.study_instance_uid != expected_study_uid:
            mismatch = IngestRejected(
                "study_mismatch", "The instance belongs to another study than the one the request names."
            )
            jobs[position] = _record_rejection(
                tenant,
                mismatch,
                source,
                display_name,
                submitted_by,
                sop_instance_uid=parsed.sop_instance_uid,
                origin=origin,
            )
            continue
        accepted.append((position, upload, parsed))
    if accepted:
        with _Encryption(tenant, parallel=len(accepted) > 1) as encryption:
            sealings = [encryption.start(upload.path) for _, upload, _ in accepted]
        stored_jobs = _record(
            tenant, accepted, sealings, source, submitted_by, origin, enqueue or enqueue_indexing
        )
        for (position, _, _), job in zip(accepted, stored_jobs, strict=True):
            jobs[position] = job
    return jobs


# Objects encrypted at once per process: hashing, AES-GCM and writing release the GIL, so two objects
# go at once on two cores (about 20 ms less for a STOW-RS request of 20 CT instances, bench/README.md).
# Files are parsed first, all of them: parsing holds the GIL, and threads encrypting meanwhile would wait
# for it at every step.
_ENCRYPTION_THREADS = 2


@cache
def _encryption_pool(pid: int) -> ThreadPoolExecutor:
    # One pool per process (keyed by pid: a pool's threads do not survive a worker's fork).
    return ThreadPoolExecutor(max_workers=_ENCRYPTION_THREADS, thread_name_prefix="encrypt")


@dataclass(frozen=True)
class _Sealing:
    """One accepted object on its way into storage: its key, its name, and its encryption running."""

    object_id: uuid.UUID
    wrapped_key: bytes
    tenant_key: TenantKey
    name: str
    digest: Future


class _Encryption:
    """The accepted objects of one receive_files call, encrypted into one DurableBatch of the tenant's
    home region: nothing of them is visible until all are durable, and none is kept if one fails. Keys
    are made on the caller's thread (a key provider may be an HSM session); only hashing, encrypting
    and writing run on the pool, and the batch is left only once every one of them has ended. Not
    `parallel` (a single object, as a C-STORE's) it is encrypted on the caller's thread.
    """

    def __init__(self, tenant: Tenant, *, parallel: bool) -> None:
        self.tenant = tenant
        self.parallel = parallel
        self.region = tenant.home_region
        self._batch = DurableBatch(self.region)
        self._tenant_key: TenantKey | None = None
        self._started: list[Future] = []

    def __enter__(self) -> "_Encryption":
        self._batch.__enter__()
        return self

    def start(self, path: Path) -> _Sealing:
        self._tenant_key = self._tenant_key or current_tenant_key(self.tenant)
        object_id = uuid.uuid4()
        data_key, wrapped_key, _ = new_object_key(self.tenant, object_id, tenant_key=self._tenant_key)
        # Server-generated: no DICOM value ever becomes part of a storage path (THREATS.md 7).
        name = f"{self.tenant.pk}/{object_id.hex[:2]}/{object_id.hex}"
        arguments = (self._batch, name, path, data_key, self.tenant.pk, object_id)
        if self.parallel:
            digest = _encryption_pool(os.getpid()).submit(_encrypt_into, *arguments)
        else:
            digest = Future()
            try:
                digest.set_result(_encrypt_into(*arguments))
            except Exception as exc:  # kept for __exit__, which fails the batch with it as for the pool's
                digest.set_exception(exc)
        self._started.append(digest)
        return _Sealing(object_id, wrapped_key, self._tenant_key, name, digest)

    def __exit__(self, exc_type, exc, tb) -> None:
        # No partial file may be removed, nor the batch published, while a thread still writes into it.
        wait(self._started)
        if exc_type is None:
            failure = next((f.exception() for f in self._started if f.exception() is not None), None)
            if failure is not None:
                self._batch.__exit__(type(failure), failure, failure.__traceback__)
                raise failure
        self._batch.__exit__(exc_type, exc, tb)


def _encrypt_into(
    batch: DurableBatch, name: str, path: Path, data_key: bytes, tenant_id: int, object_id: uuid.UUID
) -> BlobDigest:
    with batch.open(name) as sink, zeroed_preamble_reader(path) as plaintext:
        return encrypt_stream(data_key, plaintext, sink, tenant_id=tenant_id, object_id=str(object_id))


def _record(
    tenant: Tenant,
    accepted: list[tuple[int, Upload, ParsedInstance]],
    sealings: list[_Sealing],
    source,
    submitted_by,
    origin: dict | None,
    enqueue: Callable[[list[IngestJob]], None],
) -> list[IngestJob]:
    region = tenant.home_region
    objects: list[StoredObject] = []
    for (_, _, parsed), sealing in zip(accepted, sealings, strict=True):
        digest = sealing.digest.result()
        objects.append(
            StoredObject(
                id=sealing.object_id,
                tenant=tenant,
                region=region,
                storage_name=sealing.name,
                wrapped_key=sealing.wrapped_key,
                wrapping_tenant_key=sealing.tenant_key,
                plaintext_sha256=digest.plaintext_sha256,
                ciphertext_sha256=digest.ciphertext_sha256,
                plaintext_size=digest.plaintext_size,
                ciphertext_size=digest.ciphertext_size,
                transfer_syntax_uid=parsed.transfer_syntax_uid,
            )
        )
    jobs = [
        IngestJob(
            tenant=tenant,
            source=source,
            display_name=upload.display_name[:255],
            stored_object=stored,
            # The indexer's audit event names the sender (imaging.ingest.index).
            attributes=attributes_of(parsed) | ({ORIGIN: origin} if origin else {}),
            sop_instance_uid=parsed.sop_instance_uid,
            submitted_by=submitted_by,
        )
        for (_, upload, parsed), stored in zip(accepted, objects, strict=True)
    ]
    try:
        with transaction.atomic():
            StoredObject.objects.bulk_create(objects)
            IngestJob.objects.bulk_create(jobs)
            for (_, _, parsed), job in zip(accepted, jobs, strict=True):
                if parsed.preamble_threat:
                    _alert_executable_preamble(tenant, parsed, job, submitted_by)
            transaction.on_commit(lambda: enqueue(jobs))
    except BaseException:
        for stored in objects:
            delete_object(region, stored.storage_name)
        raise
    return jobs


def _alert_executable_preamble(tenant: Tenant, parsed: ParsedInstance, job: IngestJob, submitted_by) -> None:
    # CVE-2019-11687: the preamble held an executable; it was zeroed before encryption.
    audit.record(
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        actor=submitted_by,
        object_type="instance",
        object_ids=[parsed.sop_instance_uid],
        details={"alert": "executable_preamble", "kind": parsed.preamble_threat, "job": str(job.pk)},
    )


def enqueue_indexing(jobs: list[IngestJob]) -> None:
    """Queue the jobs' indexing as one task; if the broker is down, the sweeper queues them later."""
    from imaging.tasks import index_received_objects

    if not jobs:
        return
    try:
        index_received_objects.delay([str(job.pk) for job in jobs], jobs[0].tenant_id)
    except BrokerError:
        logger.warning("Broker unreachable; %d ingest jobs wait for the sweeper", len(jobs))


# The key of a job's attributes that holds its `origin` until it is indexed.
ORIGIN = "origin"


def attributes_of(parsed: ParsedInstance) -> dict:
    """The parsed index values as JSON (dates as ISO strings); imaging.ingest.index reads them back."""
    return {
        field: value.isoformat() if isinstance(value, datetime.date | datetime.time) else value
        for field, value in dataclasses.asdict(parsed).items()
    }


def _record_rejection(
    tenant: Tenant,
    rejection: IngestRejected,
    source: IngestJob.Source,
    display_name: str,
    submitted_by,
    *,
    sop_instance_uid: str = "",
    origin: dict | None = None,
) -> IngestJob:
    with transaction.atomic():
        job = IngestJob.objects.create(
            tenant=tenant,
            source=source,
            state=IngestJob.State.REJECTED,
            display_name=display_name,
            error_code=rejection.code,
            error_reason=rejection.reason[:500],
            failure_reason=int(rejection.failure_reason),
            sop_instance_uid=sop_instance_uid,
            submitted_by=submitted_by,
        )
        audit.record(
            AuditAction.STORE_REJECTED,
            tenant=tenant,
            actor=submitted_by,
            actor_role="remote_ae" if source == IngestJob.Source.DIMSE else "",
            outcome=Outcome.FAILURE,
            object_type="ingest_job",
            object_ids=[str(job.pk)],
            details={"code": rejection.code, **(origin or {})},
        )
    return job


# Files received per batch by receive_paths: one round of fsyncs and one transaction for each.
PATH_BATCH = 50


def receive_path(
    tenant: Tenant,
    path: Path,
    *,
    source: IngestJob.Source,
    display_name: str = "",
    submitted_by=None,
    limits: IngestLimits | None = None,
) -> Iterator[IngestJob]:
    """Receive one DICOM file or every member of a ZIP, yielding a job per object (or one rejected
    job for an archive refused as a whole). Call inside the tenant's scope."""
    for _, job in receive_paths(
        tenant, [(path, display_name or path.name)], source=source, submitted_by=submitted_by, limits=limits
    ):
        yield job


def receive_paths(
    tenant: Tenant,
    paths: Iterable[tuple[Path, str]],
    *,
    source: IngestJob.Source,
    submitted_by=None,
    limits: IngestLimits | None = None,
) -> Iterator[tuple[Path, IngestJob]]:
    """Receive DICOM files and ZIPs given as (path, display name), in batches of PATH_BATCH objects,
    yielding (the path given, a job) per object. Call inside the tenant's scope."""
    batch: list[tuple[Path, Upload]] = []

    def flush() -> Iterator[tuple[Path, IngestJob]]:
        jobs = receive_files(
            tenant, [upload for _, upload in batch], source=source, submitted_by=submitted_by, limits=limits
        )
        given = [path for path, _ in batch]
        batch.clear()
        yield from zip(given, jobs, strict=True)

    for path, display_name in paths:
        if _is_part10(path) or not zipfile.is_zipfile(path):
            batch.append((path, Upload(path, display_name)))
            if len(batch) >= PATH_BATCH:
                yield from flush()
            continue
        scratch = Path(settings.VAR_DIR) / "scratch"
        scratch.mkdir(mode=0o700, exist_ok=True)
        # Extracted plaintext lives only in this private folder, and only until its batch is received.
        with tempfile.TemporaryDirectory(dir=scratch) as workdir:
            try:
                for member in iter_archive_members(path, Path(workdir), limits=limits):
                    batch.append((path, Upload(member.path, f"{display_name} / {member.display_name}")))
                    if len(batch) >= PATH_BATCH:
                        yield from flush()
                if batch:
                    yield from flush()
            except IngestRejected as rejection:
                yield path, _record_rejection(tenant, rejection, source, display_name, submitted_by)
    if batch:
        yield from flush()


def _is_part10(path: Path) -> bool:
    # Checked before the ZIP test: a DICOM file whose preamble carries a ZIP is still DICOM (PS3.10 7.1).
    with path.open("rb") as fp:
        fp.seek(128)
        return fp.read(4) == b"DICM"
