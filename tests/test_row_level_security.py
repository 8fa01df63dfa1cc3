"""The second tenant wall: PostgreSQL row-level security holds even for raw SQL."""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from portal.models import TenantOwned
from portal.tenancy import tenant_scope
from tests.factories import InstanceFactory, StudyFactory

pytestmark = pytest.mark.postgres

# Every tenant-owned model, found by its base class: a new one without row-level security fails here.
TENANT_TABLES = sorted(model._meta.db_table for model in apps.get_models() if issubclass(model, TenantOwned))
INDEX_TABLES = ["imaging_patient", "imaging_study", "imaging_series", "imaging_instance"]


@pytest.fixture(autouse=True)
def _postgres_as_application_role(db):
    if connection.vendor != "postgresql":
        pytest.skip("row-level security is PostgreSQL's; the SQLite run relies on django-scopes alone")
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        (bypasses,) = cursor.fetchone()
    assert not bypasses, "connect as the application role (scripts/create-postgres-role.sh), not a superuser"


def _tenant_ids(sql: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_every_tenant_table_forces_row_level_security(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", [table])
        assert cursor.fetchone() == (True, True)


def test_raw_select_with_another_tenant_set_returns_none_of_the_first(tenant, other_tenant):
    InstanceFactory(tenant=tenant)
    InstanceFactory(tenant=other_tenant)

    with tenant_scope(other_tenant):
        for table in INDEX_TABLES:
            assert _tenant_ids(f"SELECT tenant_id FROM {table}") == {other_tenant.pk}  # noqa: S608
        # Even naming the first tenant's ID outright finds nothing.
        assert _tenant_ids(f"SELECT tenant_id FROM imaging_study WHERE tenant_id = {tenant.pk}") == set()  # noqa: S608


def test_raw_select_without_a_tenant_set_returns_nothing(tenant):
    StudyFactory(tenant=tenant)

    assert _tenant_ids("SELECT tenant_id FROM imaging_study") == set()


def test_writing_a_row_into_another_tenant_is_refused(tenant, other_tenant):
    study = StudyFactory(tenant=tenant)

    with (
        tenant_scope(other_tenant),
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO imaging_series (tenant_id, study_id, series_instance_uid, modality, description,"
            " body_part_examined, number_of_instances, created_at)"
            " VALUES (%s, %s, '2.25.1', 'CT', '', '', 0, now())",
            [tenant.pk, study.pk],
        )


def test_updates_cannot_reach_another_tenants_rows(tenant, other_tenant):
    study = StudyFactory(tenant=tenant, description="CT HEAD")

    with tenant_scope(other_tenant), connection.cursor() as cursor:
        cursor.execute("UPDATE imaging_study SET description = 'tampered' WHERE id = %s", [study.pk])
        assert cursor.rowcount == 0
    with tenant_scope(tenant):
        study.refresh_from_db()
    assert study.description == "CT HEAD"


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_closed_inside_a_scope_lends_no_scope_to_the_next_borrower(tenant):
    if not connection.settings_dict.get("OPTIONS", {}).get("pool"):
        pytest.skip("the web server's connection pool is off (PALISADE_DB_POOL=false)")
    StudyFactory(tenant=tenant)
    with tenant_scope(tenant):
        assert _tenant_ids("SELECT tenant_id FROM imaging_study") == {tenant.pk}
        # As after a database error: the connection goes back to the pool still set to the clinic.
        connection.close()

    assert _tenant_ids("SELECT tenant_id FROM imaging_study") == set()
