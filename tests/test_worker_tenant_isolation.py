"""Tasks run by a real Celery worker process stay inside the tenant they were given."""

import pytest

from portal.models import ClinicSummary
from portal.tasks import refresh_clinic_summary
from portal.tenancy import tenant_scope
from tests.factories import InstanceFactory, PatientFactory, StudyFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_task_run_by_the_real_worker_sees_only_its_own_tenants_rows(
    celery_worker_process, tenant, other_tenant
):
    InstanceFactory(tenant=tenant)
    StudyFactory(tenant=tenant)
    for _ in range(3):
        InstanceFactory(tenant=other_tenant)
    PatientFactory(tenant=other_tenant)

    counts = refresh_clinic_summary.delay(tenant.pk).get(timeout=60)

    assert counts == {"patients": 2, "studies": 2, "instances": 1}
    with tenant_scope(tenant):
        summary = ClinicSummary.objects.get()
    assert (summary.patients, summary.studies, summary.instances) == (2, 2, 1)
    with tenant_scope(other_tenant):
        assert not ClinicSummary.objects.exists()


def test_the_worker_heartbeat_task_records_the_worker(celery_worker_process):
    from portal.models import WorkerHeartbeat
    from portal.tasks import record_worker_heartbeat

    hostname = record_worker_heartbeat.delay().get(timeout=60)

    assert WorkerHeartbeat.objects.filter(hostname=hostname).exists()
