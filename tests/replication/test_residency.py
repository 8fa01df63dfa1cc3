"""A tenant whose jurisdiction is EU never gets a copy in the US: the admin refuses the replica, and
the replication write path refuses it even when the database is made to hold it."""

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from imaging.replication.models import ObjectCopy
from imaging.replication.services import ResidencyViolation, assert_residency, plan_copies
from imaging.replication.tasks import copy_to_new_replica_regions
from imaging.storage import object_exists, object_sha256
from portal.models import Tenant
from portal.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.replication.conftest import folder, ingest_samples, replicate_pending, set_replicas

pytestmark = pytest.mark.usefixtures("regions")


def test_the_tenant_admin_refuses_a_us_replica_for_an_eu_clinic(client, tenant):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    response = client.post(
        reverse("admin:portal_tenant_change", args=[tenant.pk]),
        {
            "slug": tenant.slug,
            "name": tenant.name,
            "ae_title": tenant.ae_title,
            "home_region": "eu-1",
            "replica_regions": '["eu-s3", "us-1"]',
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "outside the home jurisdiction EU" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.replica_regions == []


def test_the_tenant_admin_shows_the_residency(client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(replica_regions=["eu-2"])
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    page = client.get(reverse("admin:portal_tenant_change", args=[tenant.pk])).content.decode()

    assert "Your images are stored in EU (eu-1, eu-2)" in page
    assert "lag (RPO) 0 s" in page


def test_a_us_replica_forced_into_the_database_is_never_written_and_raises_an_alert(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(replica_regions=["us-1"])  # behind the admin's back
    tenant.refresh_from_db()
    (stored,) = ingest_samples(tenant, "CT_small.dcm")

    replicate_pending(tenant)

    with tenant_scope(tenant):
        copy = ObjectCopy.objects.get(stored_object=stored)
        assert (copy.region, copy.state) == ("us-1", ObjectCopy.State.FAILED)
        assert "outside the residency" in copy.last_error
        alert = AuditEvent.objects.get(action=AuditAction.SECURITY_ALERT, tenant=tenant)
    assert alert.details == {"alert": "residency_violation", "region": "us-1"}
    assert alert.object_ids == [str(stored.pk)]
    assert not object_exists("us-1", stored.storage_name)
    assert not folder("us-1").exists() or not any(folder("us-1").rglob("*"))


@pytest.mark.parametrize("region", ["us-1", "eu-2", "nowhere"])
def test_every_write_asserts_the_residency_as_the_tenant_row_says_now(tenant, region):
    # eu-2 is in the jurisdiction but not among the tenant's replica regions.
    with pytest.raises(ResidencyViolation):
        assert_residency(tenant, region)
    assert_residency(tenant, "eu-1")


def test_planning_copies_never_fails_the_ingest_step_for_a_bad_region(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(replica_regions=["nowhere"])
    tenant.refresh_from_db()
    (stored,) = ingest_samples(tenant, "CT_small.dcm")

    with tenant_scope(tenant):
        assert ObjectCopy.objects.get(stored_object=stored).region == "nowhere"
        assert plan_copies(tenant, []) == []


def test_a_tenant_that_gains_a_replica_region_gets_a_copy_of_everything_there(
    tenant, django_capture_on_commit_callbacks
):
    stored = ingest_samples(tenant, "CT_small.dcm", "MR_small.dcm")

    with django_capture_on_commit_callbacks() as queued:
        set_replicas(tenant, "eu-2")
    with django_capture_on_commit_callbacks() as unchanged:
        set_replicas(tenant, "eu-2")
    assert (len(queued), len(unchanged)) == (1, 0)

    assert copy_to_new_replica_regions(tenant.pk) == 2  # the task's body, as the queued message runs it
    replicate_pending(tenant)

    for each in stored:
        assert object_sha256("eu-2", each.storage_name) == each.ciphertext_sha256
