"""Index a synthetic corpus straight into Palisade's database, for query benchmarks at a size that
ingesting would take far too long to reach on this machine.

The rows are those imaging.ingest.index writes for the same objects (bench/synthetic.py's `Corpus`):
Patient, Study, Series and Instance, with the values QIDO-RS matches and returns, and the counts the
indexer keeps. No object is stored, so these instances answer queries but not WADO-RS.

Run by bench/run_dicom.py in the bench server's environment (its PALISADE_VAR_DIR and database):
`python bench/palisade_index.py TENANT SEED INSTANCES STUDY_SIZE SERIES_PER_STUDY PIXELS`.
"""

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402 (after the settings module is chosen)

django.setup()

import synthetic  # noqa: E402 (after django.setup)
from django.db import connection, transaction  # noqa: E402 (after django.setup)
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian  # noqa: E402 (after django.setup)

from imaging.models import Instance, Patient, Series, Study  # noqa: E402 (after django.setup)
from portal.models import Tenant  # noqa: E402 (after django.setup)
from portal.tasks import refresh_planner_statistics  # noqa: E402 (after django.setup)
from portal.tenancy import tenant_scope  # noqa: E402 (after django.setup)

# Studies per transaction: a few thousand rows per bulk insert, and memory stays small.
STUDIES_PER_BATCH = 500


def _date(value: str) -> datetime.date:
    return datetime.datetime.strptime(value, "%Y%m%d").date()


def _time(value: str) -> datetime.time:
    return datetime.datetime.strptime(value, "%H%M%S").time()


def index_batch(tenant: Tenant, corpus: synthetic.Corpus, study_indexes: range, patients: dict) -> int:
    """Insert the rows of the studies `study_indexes`; `patients` maps patient IDs already inserted
    (a patient's two studies may fall in two batches). Returns the number of instances."""
    demographics = {k: synthetic.corpus_study(corpus.seed, k) for k in study_indexes}
    new_patients = {}
    for values in demographics.values():
        if values.patient_id not in patients and values.patient_id not in new_patients:
            new_patients[values.patient_id] = Patient(
                tenant=tenant,
                patient_id=values.patient_id,
                name=values.patient_name,
                birth_date=_date(values.birth_date),
                sex=values.sex,
            )
    Patient.objects.bulk_create(new_patients.values())
    patients.update(new_patients)

    studies = [
        Study(
            tenant=tenant,
            patient=patients[values.patient_id],
            study_instance_uid=corpus.study_uid(k),
            study_date=_date(values.study_date),
            study_time=_time(values.study_time),
            accession_number=values.accession_number,
            study_id="1",
            description=values.description,
            modalities_in_study="CT",
            number_of_series=corpus.study_series(k),
            number_of_instances=corpus.study_instances(k),
        )
        for k, values in demographics.items()
    ]
    Study.objects.bulk_create(studies)

    series_rows, instance_rows = [], []
    for k, study in zip(study_indexes, studies, strict=True):
        seed, total, series_count = corpus.study_seed(k), corpus.study_instances(k), corpus.study_series(k)
        per_series = [0] * series_count
        for index in range(total):
            per_series[synthetic.series_position(index, total, series_count)[0]] += 1
        study_series = [
            Series(
                tenant=tenant,
                study=study,
                series_instance_uid=synthetic.series_uid(seed, j),
                modality="CT",
                series_number=j + 1,
                description=f"Phantom series {j + 1}",
                body_part_examined="PHANTOM",
                number_of_instances=per_series[j],
            )
            for j in range(series_count)
        ]
        series_rows.extend(study_series)
        for index in range(total):
            series_index, number = synthetic.series_position(index, total, series_count)
            instance_rows.append((study_series[series_index], seed, index, number))
    Series.objects.bulk_create(series_rows)
    Instance.objects.bulk_create(
        Instance(
            tenant=tenant,
            series=series,
            sop_instance_uid=synthetic.instance_uid(seed, index),
            sop_class_uid=CTImageStorage,
            instance_number=number,
            transfer_syntax_uid=ExplicitVRLittleEndian,
            rows=corpus.size,
            columns=corpus.size,
        )
        for series, seed, index, number in instance_rows
    )
    return len(instance_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tenant")
    parser.add_argument("seed")
    parser.add_argument("instances", type=int)
    parser.add_argument("study_size", type=int)
    parser.add_argument("series_per_study", type=int)
    parser.add_argument("pixels", type=int)
    args = parser.parse_args()
    corpus = synthetic.Corpus(args.seed, args.instances, args.study_size, args.series_per_study, args.pixels)
    started = time.monotonic()
    tenant = Tenant.objects.get(slug=args.tenant)
    patients: dict[str, Patient] = {}
    instances = 0
    with tenant_scope(tenant):
        for first in range(0, corpus.studies, STUDIES_PER_BATCH):
            with transaction.atomic():
                batch = range(first, min(first + STUDIES_PER_BATCH, corpus.studies))
                instances += index_batch(tenant, corpus, batch, patients)
    # Measuring right after a bulk load would time plans made without statistics, which no server in
    # steady state has. On PostgreSQL autovacuum analyses the tables a minute or so after such a load;
    # on SQLite, Palisade's hourly beat task does (portal.tasks.refresh_planner_statistics). The bench
    # starts no beat, so it runs what each would run.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE imaging_patient, imaging_study, imaging_series, imaging_instance")
    else:
        refresh_planner_statistics()
    print(
        f"indexed {instances} instances in {corpus.studies} studies of {len(patients)} patients "
        f"in {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
