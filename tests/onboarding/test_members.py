"""The members page: a clinic admin invites staff, changes roles and removes members."""

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Membership, SessionEndReason, UserSession
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.onboarding.members import LAST_ADMIN_MESSAGE
from portal.onboarding.models import Invitation
from portal.tenancy import tenant_scope
from tests.mfa import give_authenticator_app

pytestmark = pytest.mark.django_db

MEMBERS = reverse("clinic-members", kwargs={"tenant_slug": "alpha"})


def role_url(membership) -> str:
    return reverse("member-role", kwargs={"tenant_slug": "alpha", "membership_id": membership.pk})


def remove_url(membership) -> str:
    return reverse("member-remove", kwargs={"tenant_slug": "alpha", "membership_id": membership.pk})


def test_the_page_lists_staff_with_role_second_factor_and_last_sign_in(
    admin_client, tenant, clinic_admin, member_factory
):
    tech = member_factory(tenant, Role.TECHNOLOGIST)
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    give_authenticator_app(radiologist)
    radiologist.last_login = timezone.now()
    radiologist.save(update_fields=["last_login"])
    patient = member_factory(tenant, Role.PATIENT)

    response = admin_client.get(MEMBERS)

    assert response.status_code == 200
    rows = {row["membership"].user.email: row for row in response.context["rows"]}
    assert set(rows) == {clinic_admin.email, tech.email, radiologist.email}
    assert patient.email not in response.content.decode()
    assert rows[radiologist.email]["mfa"] and not rows[tech.email]["mfa"]
    page = response.content.decode()
    assert "Never" in page and "Not set up" in page
    # Patients are not invited here.
    assert 'value="patient"' not in page


def test_inviting_sends_the_link_and_is_audited(admin_client, tenant, clinic_admin):
    response = admin_client.post(MEMBERS, {"email": "Tech@Alpha.example", "role": Role.TECHNOLOGIST})

    assert response.status_code == 302
    with tenant_scope(tenant):
        invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "tech@alpha.example",
        Role.TECHNOLOGIST,
        clinic_admin,
    )
    [message] = mail.outbox
    assert message.to == ["tech@alpha.example"]
    assert "/invitations/" in message.body and "Technologist" in message.body
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_INVITED)
    assert (event.tenant, event.actor, event.object_ids) == (tenant, clinic_admin, [str(invitation.pk)])
    assert "tech@alpha.example" in admin_client.get(MEMBERS).content.decode()


@pytest.mark.parametrize(
    "data, field",
    [
        ({"email": "p@example.org", "role": Role.PATIENT}, "role"),
        ({"email": "not-an-address", "role": Role.TECHNOLOGIST}, "email"),
    ],
)
def test_a_patient_role_or_a_bad_address_is_refused(admin_client, tenant, data, field):
    response = admin_client.post(MEMBERS, data)
    assert response.status_code == 400
    assert field in response.context["invite_form"].errors
    with tenant_scope(tenant):
        assert not Invitation.objects.exists()
    assert not mail.outbox


def test_a_member_or_someone_already_invited_is_not_invited_again(admin_client, tenant, member_factory):
    tech = member_factory(tenant, Role.TECHNOLOGIST)
    response = admin_client.post(MEMBERS, {"email": tech.email, "role": Role.RADIOLOGIST})
    assert "already a member" in " ".join(response.context["invite_form"].errors["email"])
    admin_client.post(MEMBERS, {"email": "new@alpha.example", "role": Role.RADIOLOGIST})
    response = admin_client.post(MEMBERS, {"email": "new@alpha.example", "role": Role.RADIOLOGIST})
    assert "pending invitation" in " ".join(response.context["invite_form"].errors["email"])
    assert len(mail.outbox) == 1


def test_changing_a_role_is_audited_and_ends_the_members_sessions(admin_client, tenant, member_factory):
    tech = member_factory(tenant, Role.TECHNOLOGIST)
    membership = Membership.objects.get(user=tech, tenant=tenant)
    now = timezone.now()
    session = UserSession.objects.create(
        user=tech,
        key_digest="a" * 64,
        created_at=now,
        last_seen_at=now,
        idle_expires_at=now + timezone.timedelta(minutes=15),
        expires_at=now + timezone.timedelta(hours=1),
    )

    admin_client.post(role_url(membership), {"role": Role.RADIOLOGIST})

    membership.refresh_from_db()
    assert membership.role == Role.RADIOLOGIST
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ROLE_CHANGED)
    assert event.details == {"user": tech.pk, "from": "technologist", "to": "radiologist"}
    session.refresh_from_db()
    assert session.ended_reason == SessionEndReason.PRIVILEGE_CHANGED


def test_the_last_clinic_admin_can_be_neither_demoted_nor_removed(admin_client, tenant, clinic_admin):
    own = Membership.objects.get(user=clinic_admin, tenant=tenant)

    response = admin_client.post(role_url(own), {"role": Role.TECHNOLOGIST}, follow=True)
    assert LAST_ADMIN_MESSAGE in response.content.decode()
    response = admin_client.post(remove_url(own), follow=True)
    assert LAST_ADMIN_MESSAGE in response.content.decode()

    own.refresh_from_db()
    assert own.role == Role.TENANT_ADMIN
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.MEMBER_ROLE_CHANGED, AuditAction.MEMBER_REMOVED]
    ).exists()


def test_with_a_second_admin_one_may_step_down(admin_client, tenant, clinic_admin, member_factory):
    other = member_factory(tenant, Role.TENANT_ADMIN)
    other_membership = Membership.objects.get(user=other, tenant=tenant)
    admin_client.post(role_url(other_membership), {"role": Role.AUDITOR})
    other_membership.refresh_from_db()
    assert other_membership.role == Role.AUDITOR


def test_removing_a_member_ends_their_membership_tokens_and_sessions(admin_client, tenant, member_factory):
    tech = member_factory(tenant, Role.TECHNOLOGIST)
    membership = Membership.objects.get(user=tech, tenant=tenant)
    token = ApiToken.objects.create(
        user=tech,
        tenant=tenant,
        prefix="abc",
        token_hash="b" * 64,
        expires_at=timezone.now() + timezone.timedelta(days=1),
    )

    response = admin_client.post(remove_url(membership))

    assert response.status_code == 302
    assert not Membership.objects.filter(user=tech, tenant=tenant).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_REMOVED)
    assert event.object_ids == [str(membership.pk)]
    assert event.details["api_tokens_revoked"] == [token.pk]


def test_patients_and_other_clinics_members_are_not_managed_here(
    admin_client, tenant, other_tenant, member_factory
):
    patient = member_factory(tenant, Role.PATIENT)
    stranger = member_factory(other_tenant, Role.TECHNOLOGIST)
    for user, clinic in ((patient, tenant), (stranger, other_tenant)):
        membership = Membership.objects.get(user=user, tenant=clinic)
        assert admin_client.post(remove_url(membership)).status_code == 404
        assert admin_client.post(role_url(membership), {"role": Role.BILLING}).status_code == 404
        assert Membership.objects.filter(pk=membership.pk).exists()
