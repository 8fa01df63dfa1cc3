"""Django admin is the platform operators' console over every clinic."""

import pytest
from django.urls import reverse

import audit
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.models import Tenant
from tests.factories import StudyFactory, UserFactory


@pytest.fixture
def operator(db, client):
    user = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(user)
    return user


def test_an_operator_sees_studies_of_every_clinic_without_patient_names(
    operator, client, tenant, other_tenant
):
    first = StudyFactory(tenant=tenant, patient__name="Secret^Name")
    second = StudyFactory(tenant=other_tenant)

    page = client.get(reverse("admin:imaging_study_changelist")).content.decode()
    patients = client.get(reverse("admin:imaging_patient_changelist")).content.decode()

    assert first.study_instance_uid in page and second.study_instance_uid in page
    assert "Secret" not in page and "Secret" not in patients


def test_an_operator_creates_a_clinic_and_the_change_is_audited(operator, client):
    response = client.post(
        reverse("admin:portal_tenant_add"),
        {
            "slug": "harbour",
            "name": "Harbour Clinic",
            "ae_title": "HARBOUR",
            "home_region": "eu-1",
            "replica_regions": '["eu-2"]',
            "is_active": "on",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()
    tenant = Tenant.objects.get(slug="harbour")
    event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert (event.actor, event.tenant, event.object_ids) == (operator, tenant, [str(tenant.pk)])


def test_the_admin_refuses_a_replica_outside_the_jurisdiction(operator, client):
    response = client.post(
        reverse("admin:portal_tenant_add"),
        {
            "slug": "leaky",
            "name": "Leaky",
            "ae_title": "LEAKY",
            "home_region": "eu-1",
            "replica_regions": '["us-1"]',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "outside the home jurisdiction EU" in response.content.decode()
    assert not Tenant.objects.filter(slug="leaky").exists()


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, None])
def test_clinic_staff_and_plain_staff_cannot_enter_the_platform_admin(client, tenant, member_factory, role):
    user = member_factory(tenant, role) if role else UserFactory(is_staff=True)
    client.force_login(user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_audit_trail_cannot_be_edited_in_the_admin(operator, client):
    event = audit.record(AuditAction.SIGN_IN)

    assert (
        client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
