"""Indexing a received object: Patient → Study → Series → Instance, duplicates and versions.

Runs in a Celery worker (imaging.tasks), inside the job's tenant scope. It is idempotent: the job
row is locked and only a QUEUED job is indexed, so a redelivered message (acks late, a killed
worker) or the sweeper's re-queue does nothing twice. Indexing of one study is serialised on the
study row, so two workers storing the same study keep its counts exact.
"""

import datetime
import logging

from django.db import transaction
from django.db.models import Model
from kombu.exceptions import OperationalError as BrokerError

import audit
from audit.models import AuditAction
from imaging.crypto.object_keys import wrap_for_study
from imaging.models import IngestJob, Instance, Patient, Series, SeriesThumbnail, Study
from imaging.storage import delete_object
from portal.models import Tenant

logger = logging.getLogger(__name__)


def index_job(tenant: Tenant, job_id: str) -> IngestJob | None:
    with transaction.atomic():
        job = (
            IngestJob.objects.select_for_update(of=("self",))
            .select_related("stored_object")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.state != IngestJob.State.QUEUED:
            return job
        values = job.attributes
        study = _index_study(tenant, values)
        series, _ = _get_or_create(
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
        instance, created = _get_or_create(
            Instance,
            tenant,
            {"sop_instance_uid": values["sop_instance_uid"]},
            {
                "series": series,
                "sop_class_uid": values["sop_class_uid"],
                "instance_number": values["instance_number"],
                "transfer_syntax_uid": values["transfer_syntax_uid"],
                "rows": values["rows"],
                "columns": values["columns"],
                "number_of_frames": values["number_of_frames"],
            },
        )
        job.state = _place_object(job, instance, study, created)
        _recount(series, study)
        if job.state == IngestJob.State.STORED and not SeriesThumbnail.objects.filter(series=series).exists():
            transaction.on_commit(lambda: _enqueue_thumbnail(series))
        job.attributes = {}
        job.save()
        audit.record(
            AuditAction.STORE,
            tenant=tenant,
            actor=job.submitted_by,
            object_type="instance",
            object_ids=[
                values["study_instance_uid"],
                values["series_instance_uid"],
                values["sop_instance_uid"],
            ],
            details={"job": str(job.pk), "source": job.source, "result": job.state},
        )
    return job


def _enqueue_thumbnail(series: Series) -> None:
    from imaging.tasks import make_series_thumbnail

    try:
        make_series_thumbnail.delay(series.pk, series.tenant_id)
    except BrokerError:
        logger.warning("Broker unreachable; series %s has no thumbnail yet", series.pk)


def _index_study(tenant: Tenant, values: dict) -> Study:
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


def _place_object(job: IngestJob, instance: Instance, study: Study, created: bool) -> str:
    """Attach the job's object to the instance as its first or a new version, or drop a duplicate."""
    stored = job.stored_object
    current = None if created else instance.versions.first()
    if current is not None and current.plaintext_sha256 == stored.plaintext_sha256:
        region, name = stored.region, stored.storage_name
        job.stored_object = None
        stored.delete()
        transaction.on_commit(lambda: delete_object(region, name))
        return IngestJob.State.DUPLICATE
    stored.instance = instance
    stored.version = 1 if current is None else current.version + 1
    wrap_for_study(stored, study)
    stored.save()
    # PS3.4 keeps one SOP Instance per UID; different bytes are kept as a version, never overwritten.
    return IngestJob.State.STORED if current is None else IngestJob.State.NEW_VERSION


def _recount(series: Series, study: Study) -> None:
    series.number_of_instances = series.instances.count()
    series.save(update_fields=["number_of_instances"])
    study_series = Series.objects.filter(study=study)
    study.number_of_series = study_series.count()
    study.number_of_instances = Instance.objects.filter(series__study=study).count()
    modalities = sorted({m for m in study_series.values_list("modality", flat=True) if m})
    study.modalities_in_study = "\\".join(modalities)[:128]
    study.save(update_fields=["number_of_series", "number_of_instances", "modalities_in_study"])


def _get_or_create(model: type[Model], tenant: Tenant, lookup: dict, defaults: dict) -> tuple[Model, bool]:
    # get_or_create retries the get when a concurrent worker won the insert (unique per tenant).
    return model.objects.get_or_create(tenant=tenant, **lookup, defaults={"tenant": tenant, **defaults})


def _date(value: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def _time(value: str | None) -> datetime.time | None:
    return datetime.time.fromisoformat(value) if value else None
