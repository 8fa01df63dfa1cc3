"""The residency on the clinic's dashboard and the patient's My images page; the replication lag (RPO)
for the clinic's admins only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from imaging.replication.models import ObjectCopy
from portal.models import Tenant
from portal.tenancy import tenant_scope
from tests.factories import MembershipFactory, PatientFactory, StudyFactory, UserFactory
from tests.replication.conftest import ingest_samples

pytestmark = pytest.mark.usefixtures("regions")


@pytest.fixture
def replicated_tenant(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(replica_regions=["eu-2"])
    tenant.refresh_from_db()
    return tenant


def test_admins_see_the_residency_and_the_lag_of_the_oldest_waiting_copy(
    client, replicated_tenant, member_factory
):
    (stored,) = ingest_samples(replicated_tenant, "CT_small.dcm")
    with tenant_scope(replicated_tenant):
        ObjectCopy.objects.filter(stored_object=stored).update(
            created_at=timezone.now() - timedelta(minutes=12)
        )
    client.force_login(member_factory(replicated_tenant, Role.TENANT_ADMIN))

    page = client.get(reverse("clinic-dashboard", args=[replicated_tenant.slug])).content.decode()

    assert "Your images are stored in EU (eu-1, eu-2)" in page
    assert 'data-testid="replication-lag">12 min<' in page


def test_other_staff_see_the_residency_but_not_the_lag(client, replicated_tenant, member_factory):
    client.force_login(member_factory(replicated_tenant, Role.RADIOLOGIST))

    page = client.get(reverse("clinic-dashboard", args=[replicated_tenant.slug])).content.decode()

    assert "Your images are stored in EU (eu-1, eu-2)" in page
    assert "replication-lag" not in page


def test_a_patient_sees_where_their_images_are_stored(client, replicated_tenant):
    person = UserFactory()
    MembershipFactory(user=person, tenant=replicated_tenant, role=Role.PATIENT)
    StudyFactory(tenant=replicated_tenant, patient=PatientFactory(tenant=replicated_tenant, account=person))
    client.force_login(person)

    page = client.get(reverse("my-images")).content.decode()

    assert "Your images are stored in EU (eu-1, eu-2)" in page
