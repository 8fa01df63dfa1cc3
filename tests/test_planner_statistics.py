"""The hourly task that gives SQLite's query planner its statistics (portal.tasks)."""

import pytest
from django.conf import settings
from django.db import connection

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


def test_beat_runs_it_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["planner-statistics"]
    assert (entry["task"], entry["schedule"]) == ("portal.tasks.refresh_planner_statistics", 3600.0)
