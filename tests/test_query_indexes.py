"""The index serving case-insensitive person-name searches (QIDO-RS and C-FIND) on PostgreSQL."""

import pytest
from django.db import connection

from imaging.models import Patient
from imaging.query.criteria import SingleValue, Wildcard
from imaging.query.matching import condition
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL expression index"),
]


@pytest.mark.parametrize("matcher", [Wildcard("LAR*"), SingleValue("Larsen^Ada")], ids=["prefix", "exact"])
def test_a_name_search_can_use_the_upper_name_index(tenant, matcher):
    with tenant_scope(tenant):
        PatientFactory(tenant=tenant, name="Larsen^Ada")
        query = Patient.objects.filter(condition("name", "PN", matcher))
        with connection.cursor() as cursor:
            # On a handful of rows the planner rightly prefers reading the table; forbidding that shows
            # whether the index can answer the query at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
        assert [patient.name for patient in query] == ["Larsen^Ada"]
    assert "patient_tenant_upper_name" in plan
