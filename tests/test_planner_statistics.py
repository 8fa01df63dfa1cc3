"""The hourly task that gives SQLite's query planner its statistics (portal.tasks)."""

import pytest
from django.conf import settings
from django.db import connection

from imaging.models import Instance, Series, Study
from portal.tasks import refresh_planner_statistics
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _statistics(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = %s", [table])
        return cursor.fetchall()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's autovacuum keeps its statistics")
def test_sqlite_gets_statistics_for_the_index_tables(tenant):
    with tenant_scope(tenant):
        PatientFactory.create_batch(20, tenant=tenant)
    assert _statistics("imaging_patient") == []

    refresh_planner_statistics()

    indexes = {index for index, _ in _statistics("imaging_patient")}
    assert "patient_tenant_name" in indexes


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's autovacuum keeps its statistics")
def test_with_statistics_a_studys_instances_are_found_through_its_series_not_the_whole_clinic(tenant):
    # One clinic of 12,000 instances, 600 studies of 20 (QIDO-RS /studies/{study}/instances at scale). The
    # sample must see past the first thousand rows of the clinic's index: with a limit of 1,000 the
    # planner still walked all 12,000 instances of the clinic to find 20.
    with tenant_scope(tenant):
        patient = PatientFactory(tenant=tenant)
        studies = Study.objects.bulk_create(
            Study(tenant=tenant, patient=patient, study_instance_uid=f"2.25.{k}") for k in range(600)
        )
        series = Series.objects.bulk_create(
            Series(tenant=tenant, study=study, series_instance_uid=f"2.25.{study.pk}.{j}")
            for study in studies
            for j in range(2)
        )
        Instance.objects.bulk_create(
            Instance(tenant=tenant, series=one, sop_instance_uid=f"{one.series_instance_uid}.{i}")
            for one in series
            for i in range(10)
        )
        query = Instance.objects.filter(
            series__study__in=Study.objects.filter(study_instance_uid="2.25.7")
        ).order_by("pk")
        sql, params = query.query.sql_with_params()

    refresh_planner_statistics()

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " / ".join(row[-1] for row in cursor.fetchall())
    assert "imaging_instance_series_id" in plan, plan
    assert "imaging_instance_tenant_id" not in plan, plan


def test_beat_runs_it_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["planner-statistics"]
    assert (entry["task"], entry["schedule"]) == ("portal.tasks.refresh_planner_statistics", 3600.0)
