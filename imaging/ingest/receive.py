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
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

import audit
from audit.models import AuditAction, Outcome
from imaging.crypto.object_keys import new_object_key
from imaging.crypto.segments import encrypt_stream
from imaging.ingest.archives import iter_archive_members
from imaging.ingest.errors import IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import ParsedInstance, parse_instance, zeroed_preamble_reader
from imaging.models import IngestJob, StoredObject
from imaging.storage import delete_object, durable_writer
from portal.models import Tenant

logger = logging.getLogger(__name__)


def receive_file(
    tenant: Tenant,
    path: Path,
    *,
    source: IngestJob.Source,
    display_name: str = "",
    submitted_by=None,
    limits: IngestLimits | None = None,
) -> IngestJob:
    """Accept or refuse one DICOM file for `tenant`. Call inside the tenant's scope.

    Returns the job: REJECTED with a reason a technologist can act on, or QUEUED with the object
    durably stored. Raises imaging.storage.StorageFull when the region has no room (nothing is kept).
    """
    display_name = display_name[:255]
    try:
        parsed = parse_instance(path, limits=limits)
    except IngestRejected as rejection:
        return _record_rejection(tenant, rejection, source, display_name, submitted_by)

    object_id = uuid.uuid4()
    data_key, wrapped_key, tenant_key = new_object_key(tenant, object_id)
    region = tenant.home_region
    # Server-generated: no DICOM value ever becomes part of a storage path (THREATS.md 7).
    name = f"{tenant.pk}/{object_id.hex[:2]}/{object_id.hex}"
    with durable_writer(region, name) as sink, zeroed_preamble_reader(path) as plaintext:
        digest = encrypt_stream(data_key, plaintext, sink, tenant_id=tenant.pk, object_id=str(object_id))
    try:
        with transaction.atomic():
            stored = StoredObject.objects.create(
                id=object_id,
                tenant=tenant,
                region=region,
                storage_name=name,
                wrapped_key=wrapped_key,
                wrapping_tenant_key=tenant_key,
                plaintext_sha256=digest.plaintext_sha256,
                ciphertext_sha256=digest.ciphertext_sha256,
                plaintext_size=digest.plaintext_size,
                ciphertext_size=digest.ciphertext_size,
                transfer_syntax_uid=parsed.transfer_syntax_uid,
            )
            job = IngestJob.objects.create(
                tenant=tenant,
                source=source,
                display_name=display_name,
                stored_object=stored,
                attributes=attributes_of(parsed),
                sop_instance_uid=parsed.sop_instance_uid,
                submitted_by=submitted_by,
            )
            if parsed.preamble_threat:
                # CVE-2019-11687: the preamble held an executable; it was zeroed before encryption.
                audit.record(
                    AuditAction.SECURITY_ALERT,
                    tenant=tenant,
                    actor=submitted_by,
                    object_type="instance",
                    object_ids=[parsed.sop_instance_uid],
                    details={
                        "alert": "executable_preamble",
                        "kind": parsed.preamble_threat,
                        "job": str(job.pk),
                    },
                )
            transaction.on_commit(lambda: enqueue_indexing(job))
    except BaseException:
        delete_object(region, name)
        raise
    return job


def enqueue_indexing(job: IngestJob) -> None:
    """Queue the job's indexing; if the broker is down, the sweeper queues it later."""
    from imaging.tasks import index_received_object

    try:
        index_received_object.delay(str(job.pk), job.tenant_id)
    except BrokerError:
        logger.warning("Broker unreachable; ingest job %s waits for the sweeper", job.pk)


def attributes_of(parsed: ParsedInstance) -> dict:
    """The parsed index values as JSON (dates as ISO strings); imaging.ingest.index reads them back."""
    return {
        field: value.isoformat() if isinstance(value, datetime.date | datetime.time) else value
        for field, value in dataclasses.asdict(parsed).items()
    }


def _record_rejection(
    tenant: Tenant, rejection: IngestRejected, source: IngestJob.Source, display_name: str, submitted_by
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
            submitted_by=submitted_by,
        )
        audit.record(
            AuditAction.STORE_REJECTED,
            tenant=tenant,
            actor=submitted_by,
            outcome=Outcome.FAILURE,
            object_type="ingest_job",
            object_ids=[str(job.pk)],
            details={"code": rejection.code},
        )
    return job


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
    display_name = display_name or path.name
    if not _is_part10(path) and zipfile.is_zipfile(path):
        yield from _receive_archive(tenant, path, source, display_name, submitted_by, limits)
    else:
        yield receive_file(
            tenant, path, source=source, display_name=display_name, submitted_by=submitted_by, limits=limits
        )


def _is_part10(path: Path) -> bool:
    # Checked before the ZIP test: a DICOM file whose preamble carries a ZIP is still DICOM (PS3.10 7.1).
    with path.open("rb") as fp:
        fp.seek(128)
        return fp.read(4) == b"DICM"


def _receive_archive(
    tenant: Tenant, path: Path, source, display_name: str, submitted_by, limits
) -> Iterator[IngestJob]:
    # Extracted plaintext lives only in this private folder, one member at a time, removed at once.
    scratch = Path(settings.VAR_DIR) / "scratch"
    scratch.mkdir(mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as workdir:
        try:
            for member in iter_archive_members(path, Path(workdir), limits=limits):
                try:
                    yield receive_file(
                        tenant,
                        member.path,
                        source=source,
                        display_name=f"{display_name} / {member.display_name}",
                        submitted_by=submitted_by,
                        limits=limits,
                    )
                finally:
                    member.path.unlink(missing_ok=True)
        except IngestRejected as rejection:
            yield _record_rejection(tenant, rejection, source, display_name, submitted_by)
