"""Indexing received objects: Patient → Study → Series → Instance, duplicates and versions.

Runs in a Celery worker (imaging.tasks), inside the jobs' tenant scope, a batch of jobs (one
upload request, one sweep) per transaction. It is idempotent: only QUEUED jobs are indexed, and
jobs another worker is indexing are skipped (their rows are locked), so a redelivered message
(acks late, a killed worker) or the sweeper's re-queue does nothing twice. Indexing of one study
is serialised on the study row, so two workers storing the same study keep its counts exact.
"""

import datetime
import logging
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

import audit
from audit.models import AuditAction
from imaging.crypto.keys import study_data_key
from imaging.crypto.object_keys import wrap_for_study
from imaging.ingest.receive import ORIGIN
from imaging.models import IngestJob, Instance, Patient, Series, SeriesThumbnail, StoredObject, Study
from imaging.replication.services import plan_copies
from imaging.storage import delete_object
from portal.models import Tenant

logger = logging.getLogger(__name__)


def index_job(tenant: Tenant, job_id: str) -> IngestJob | None:
    """Index one job; returns it in its new state (or as it was, if there was nothing to do)."""
    index_jobs(tenant, [job_id])
    return IngestJob.objects.select_related("stored_object").filter(pk=job_id).first()


def index_jobs(tenant: Tenant, job_ids: list[str]) -> list[IngestJob]:
    """Index the queued jobs among `job_ids`; returns the jobs indexed."""
    with transaction.atomic():
        jobs = list(
            IngestJob.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("stored_object__wrapping_tenant_key", "submitted_by")
            .filter(pk__in=job_ids, state=IngestJob.State.QUEUED)
            .order_by("created_at")
        )
        by_study: dict[str, list[IngestJob]] = defaultdict(list)
        for job in jobs:
            by_study[job.attributes["study_instance_uid"]].append(job)
        for study_jobs in by_study.values():
            _index_study_jobs(tenant, study_jobs)
    return jobs


def _index_study_jobs(tenant: Tenant, jobs: list[IngestJob]) -> None:
    # A batch is written with a few statements whatever its size: one insert of its new instances,
    # one update of its objects, one of its jobs and one insert of its audit events.
    study = _study_for(tenant, jobs[0].attributes)
    study_key = study_data_key(study)
    series_by_uid: dict[str, Series] = {}
    uids = [job.attributes["sop_instance_uid"] for job in jobs]
    instances = {
        instance.sop_instance_uid: instance for instance in Instance.objects.filter(sop_instance_uid__in=uids)
    }
    current = {
        stored.instance_id: stored
        for stored in StoredObject.objects.filter(instance__in=instances.values()).order_by(
            "instance_id", "version"
        )
    }
    new_instances: list[Instance] = []
    for job in jobs:
        values = job.attributes
        series = series_by_uid.get(values["series_instance_uid"])
        if series is None:
            series, _ = _series_for(tenant, study, values)
            series_by_uid[values["series_instance_uid"]] = series
        if values["sop_instance_uid"] not in instances:
            instance = Instance(tenant=tenant, series=series, **_instance_fields(values))
            instances[instance.sop_instance_uid] = instance
            new_instances.append(instance)
    Instance.objects.bulk_create(new_instances)
    placed: list[StoredObject] = []
    events = []
    now = timezone.now()
    for job in jobs:
        instance = instances[job.attributes["sop_instance_uid"]]
        series = series_by_uid[job.attributes["series_instance_uid"]]
        job.state = _place_object(job, instance, study_key, study, current.get(instance.pk))
        if job.stored_object is not None:
            current[instance.pk] = job.stored_object
            placed.append(job.stored_object)
        # A sender that is not a user (a DIMSE peer's calling AE title), as receive_files was told.
        origin = job.attributes.get(ORIGIN) or {}
        job.attributes = {}
        job.updated_at = now
        events.append(
            audit.event(
                AuditAction.STORE,
                tenant=tenant,
                actor=job.submitted_by,
                actor_role="remote_ae" if job.source == IngestJob.Source.DIMSE else "",
                object_type="instance",
                object_ids=[
                    study.study_instance_uid,
                    series.series_instance_uid,
                    instance.sop_instance_uid,
                ],
                details={"job": str(job.pk), "source": job.source, "result": job.state, **origin},
            )
        )
    _update_rows(StoredObject, placed, ["instance", "version", "wrapped_key", "wrapping_tenant_key"])
    # The replicate step (docs/storage.md): pending copies written with the index, queued on commit.
    plan_copies(tenant, placed)
    for state in {job.state for job in jobs}:
        # A duplicate's job lost its object when the object was deleted (on_delete=SET_NULL).
        IngestJob.objects.filter(pk__in=[job.pk for job in jobs if job.state == state]).update(
            state=state, attributes={}, updated_at=now
        )
    audit.record_all(events)
    _recount(study, series_by_uid.values())
    for series in series_by_uid.values():
        if not SeriesThumbnail.objects.filter(series=series).exists():
            transaction.on_commit(lambda series=series: _enqueue_thumbnail(series))


def _update_rows(model: type[Model], rows: list[Model], fields: list[str]) -> None:
    """Save `fields` of `rows` with one statement run for each row (executemany). Django's
    bulk_update builds a CASE expression per field and row, whose Python cost is many times the
    database's work here. The rows were read inside the tenant's scope (and, on PostgreSQL, under its
    row-level security, which this statement is subject to as well)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]
    primary_key = model._meta.pk
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    # Identifiers from the model's metadata, quoted; every value is a parameter.
    table, key = quote(model._meta.db_table), quote(primary_key.column)
    statement = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608
    values = [
        [column.get_db_prep_save(getattr(row, column.attname), connection) for column in columns]
        + [primary_key.get_db_prep_value(row.pk, connection)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, values)


def _place_object(
    job: IngestJob, instance: Instance, study_key: bytes, study: Study, current: StoredObject | None
) -> str:
    """Attach the job's object to the instance as its first or a new version, or drop a duplicate.
    The caller saves the object and the job."""
    stored = job.stored_object
    if current is not None and current.plaintext_sha256 == stored.plaintext_sha256:
        region, name = stored.region, stored.storage_name
        job.stored_object = None
        stored.delete()
        transaction.on_commit(lambda: delete_object(region, name))
        return IngestJob.State.DUPLICATE
    stored.instance = instance
    stored.version = 1 if current is None else current.version + 1
    wrap_for_study(stored, study, study_key=study_key)
    # PS3.4 keeps one SOP Instance per UID; different bytes are kept as a version, never overwritten.
    return IngestJob.State.STORED if current is None else IngestJob.State.NEW_VERSION


def _study_for(tenant: Tenant, values: dict) -> Study:
    patient, _ = _get_or_create(
        Patient,
        tenant,
        {"patient_id": values["patient_id"], "issuer_of_patient_id": values["issuer_of_patient_id"]},
        {
            "name": values["patient_name"],
            "birth_date": _date(values["patient_birth_date"]),
            "sex": values["patient_sex"],
        },
    )
    study, _ = _get_or_create(
        Study,
        tenant,
        {"study_instance_uid": values["study_instance_uid"]},
        {
            "patient": patient,
            "study_date": _date(values["study_date"]),
            "study_time": _time(values["study_time"]),
            "accession_number": values["accession_number"],
            "study_id": values["study_id"],
            "description": values["study_description"],
            "referring_physician_name": values["referring_physician_name"],
        },
    )
    # Serialises the indexing of one study across workers; released at commit.
    return Study.objects.select_for_update().get(pk=study.pk)


def _series_for(tenant: Tenant, study: Study, values: dict) -> tuple[Series, bool]:
    return _get_or_create(
        Series,
        tenant,
        {"series_instance_uid": values["series_instance_uid"]},
        {
            "study": study,
            "modality": values["modality"],
            "series_number": values["series_number"],
            "description": values["series_description"],
            "body_part_examined": values["body_part_examined"],
        },
    )


def _instance_fields(values: dict) -> dict:
    return {
        "sop_instance_uid": values["sop_instance_uid"],
        "sop_class_uid": values["sop_class_uid"],
        "instance_number": values["instance_number"],
        "transfer_syntax_uid": values["transfer_syntax_uid"],
        "rows": values["rows"],
        "columns": values["columns"],
        "number_of_frames": values["number_of_frames"],
    }


def _recount(study: Study, touched_series) -> None:
    for series in touched_series:
        series.number_of_instances = series.instances.count()
        series.save(update_fields=["number_of_instances"])
    study_series = Series.objects.filter(study=study)
    study.number_of_series = study_series.count()
    study.number_of_instances = Instance.objects.filter(series__study=study).count()
    modalities = sorted({m for m in study_series.values_list("modality", flat=True) if m})
    study.modalities_in_study = "\\".join(modalities)[:128]
    study.save(update_fields=["number_of_series", "number_of_instances", "modalities_in_study"])


def _enqueue_thumbnail(series: Series) -> None:
    from imaging.tasks import make_series_thumbnail

    try:
        make_series_thumbnail.delay(series.pk, series.tenant_id)
    except BrokerError:
        logger.warning("Broker unreachable; series %s has no thumbnail yet", series.pk)


def _get_or_create(model: type[Model], tenant: Tenant, lookup: dict, defaults: dict) -> tuple[Model, bool]:
    # get_or_create retries the get when a concurrent worker won the insert (unique per tenant).
    return model.objects.get_or_create(tenant=tenant, **lookup, defaults={"tenant": tenant, **defaults})


def _date(value: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def _time(value: str | None) -> datetime.time | None:
    return datetime.time.fromisoformat(value) if value else None
