"""The platform operator decides a clinic's request in Django admin."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.models import Tenant
from portal.onboarding.models import ClinicRequest, Invitation
from portal.tenancy import tenant_scope

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:onboarding_clinicrequest_changelist"


@pytest.fixture
def operator(client):
    user = User.objects.create_superuser("operator@palisade.example", "correct horse battery")
    client.force_login(user)
    return user


def make_request(**overrides) -> ClinicRequest:
    values = {
        "clinic_name": "Charlie Imaging",
        "country": "DE",
        "jurisdiction": "EU",
        "slug": "charlie",
        "contact_name": "Dana Admin",
        "contact_email": "dana@charlie.example",
        "privacy_contact_name": "Pat Privacy",
        "privacy_contact_email": "privacy@charlie.example",
        **overrides,
    }
    return ClinicRequest.objects.create(**values)


def run_action(client, action: str, *requests: ClinicRequest):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(r.pk) for r in requests]},
        follow=True,
    )


def test_approval_creates_the_clinic_invites_its_admin_and_is_audited(client, operator):
    clinic_request = make_request()

    response = run_action(client, "approve", clinic_request)

    assert response.status_code == 200
    tenant = Tenant.objects.get(slug="charlie")
    assert (tenant.name, tenant.home_region, tenant.replica_regions) == ("Charlie Imaging", "eu-1", [])
    assert (tenant.country, tenant.privacy_contact_name, tenant.privacy_contact_email) == (
        "DE",
        "Pat Privacy",
        "privacy@charlie.example",
    )
    assert tenant.ae_title == "CHARLIE"
    assert tenant.live_at is None
    clinic_request.refresh_from_db()
    assert (clinic_request.status, clinic_request.tenant, clinic_request.decided_by) == (
        ClinicRequest.Status.APPROVED,
        tenant,
        operator,
    )
    with tenant_scope(tenant):
        invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "dana@charlie.example",
        Role.TENANT_ADMIN,
        None,
    )
    event = AuditEvent.objects.get(action=AuditAction.CLINIC_APPROVED)
    assert event.tenant == tenant and event.actor == operator
    [message] = mail.outbox
    assert message.to == ["dana@charlie.example"]
    assert "Charlie Imaging" in message.subject
    link = re.search(r"http://testserver(/invitations/\S+/)", message.body).group(1)
    assert invitation.token_hash not in message.body  # the link carries the token, the row its hash
    assert client.get(link).status_code == 200


def test_a_us_clinic_is_homed_in_the_first_us_region(client, operator):
    run_action(client, "approve", make_request(country="US", jurisdiction="US", slug="delta"))
    assert Tenant.objects.get(slug="delta").home_region == "us-1"


def test_a_request_is_decided_once(client, operator):
    clinic_request = make_request()
    run_action(client, "approve", clinic_request)
    response = run_action(client, "approve", clinic_request)
    assert "already Approved" in response.content.decode()
    assert Tenant.objects.filter(slug="charlie").count() == 1
    assert len(mail.outbox) == 1
    response = run_action(client, "decline", clinic_request)
    assert "already Approved" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.CLINIC_DECLINED).exists()


def test_decline_tells_the_contact_politely_and_is_audited(client, operator):
    clinic_request = make_request()

    run_action(client, "decline", clinic_request)

    clinic_request.refresh_from_db()
    assert clinic_request.status == ClinicRequest.Status.DECLINED
    assert not Tenant.objects.filter(slug="charlie").exists()
    [message] = mail.outbox
    assert message.to == ["dana@charlie.example"]
    assert "Thank you for your interest" in message.body
    event = AuditEvent.objects.get(action=AuditAction.CLINIC_DECLINED)
    assert event.tenant is None and event.object_ids == [str(clinic_request.pk)]


def test_clinic_staff_cannot_reach_the_requests(client, tenant, member_factory):
    make_request()
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
