"""Choosing the home region and replicas, inside the clinic's jurisdiction, before any study."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from portal.models import Tenant
from portal.onboarding import services
from tests.factories import StudyFactory, TenantFactory

pytestmark = pytest.mark.django_db

REGION = reverse("onboarding-region", kwargs={"tenant_slug": "alpha"})


def test_the_admin_chooses_a_home_and_a_replica_region_and_it_is_audited(admin_client, tenant, clinic_admin):
    page = admin_client.get(REGION).content.decode()
    assert 'value="eu-2"' in page and 'value="us-1"' not in page

    response = admin_client.post(REGION, {"home_region": "eu-2", "replica_regions": ["eu-1"]})

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.home_region, tenant.replica_regions) == ("eu-2", ["eu-1"])
    event = AuditEvent.objects.get(action=AuditAction.REGION_CHOSEN)
    assert (event.tenant, event.actor) == (tenant, clinic_admin)
    assert event.details["home_region"] == "eu-2" and event.details["before"]["home_region"] == "eu-1"


def test_a_region_of_another_jurisdiction_is_refused(admin_client, tenant):
    for data in ({"home_region": "us-1"}, {"home_region": "eu-1", "replica_regions": ["us-1"]}):
        response = admin_client.post(REGION, data)
        assert response.status_code == 200
        assert response.context["form"].errors
    tenant.refresh_from_db()
    assert (tenant.home_region, tenant.replica_regions) == ("eu-1", [])
    assert not AuditEvent.objects.filter(action=AuditAction.REGION_CHOSEN).exists()


def test_the_service_refuses_residency_outside_the_jurisdiction(tenant, rf):
    with pytest.raises(ValidationError, match="not one of your jurisdiction"):
        services.choose_region(tenant, "eu-1", ["us-1"], request=rf.post("/"))
    us_clinic = TenantFactory(slug="delta", home_region="us-1")
    with pytest.raises(ValidationError):
        services.choose_region(us_clinic, "eu-1", [], request=rf.post("/"))
    assert Tenant.objects.get(slug="delta").home_region == "us-1"


def test_the_home_cannot_be_replica_too(admin_client, tenant):
    response = admin_client.post(REGION, {"home_region": "eu-1", "replica_regions": ["eu-1"]})
    assert "replica_regions" in response.context["form"].errors


def test_once_the_clinic_holds_a_study_the_region_is_locked(admin_client, tenant):
    StudyFactory(tenant=tenant)
    page = admin_client.get(REGION).content.decode()
    assert "region-locked" in page

    response = admin_client.post(REGION, {"home_region": "eu-2"})

    assert response.status_code == 409
    assert "already holds studies" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.home_region == "eu-1"
    assert not AuditEvent.objects.filter(action=AuditAction.REGION_CHOSEN).exists()
