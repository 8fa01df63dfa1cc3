"""Joining a clinic by invitation: set a password (or sign in), become a member, then the second factor."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.onboarding import invitations
from portal.onboarding.models import Invitation
from portal.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.mfa import PASSWORD, give_authenticator_app, sign_in

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "violet tuesday harbour lamp"


def invite(tenant, email="new@alpha.example", role=Role.TENANT_ADMIN) -> tuple[Invitation, str]:
    return invitations.create_invitation(tenant, email, role, invited_by=None, request=None)


def accept_url(token: str) -> str:
    return reverse("invitation-accept", kwargs={"token": token})


def test_only_the_hash_of_the_token_is_stored(tenant):
    invitation, token = invite(tenant)
    assert invitation.token_hash == invitations.token_hash(token) != token
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)


def test_a_newcomer_sets_a_password_joins_and_is_sent_to_enrol_a_second_factor(client, tenant):
    invitation, token = invite(tenant)
    page = client.get(accept_url(token))
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    assert "Clinic admin" in page.content.decode()

    response = client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})

    checklist = reverse("onboarding-checklist", kwargs={"tenant_slug": tenant.slug})
    assert response.status_code == 302 and response["Location"] == checklist
    user = User.objects.get(email="new@alpha.example")
    assert user.check_password(GOOD_PASSWORD)
    membership = Membership.objects.get(user=user, tenant=tenant)
    assert membership.role == Role.TENANT_ADMIN
    with tenant_scope(tenant):
        invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.accepted_by == user
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_JOINED)
    assert (event.tenant, event.actor, event.object_ids) == (tenant, user, [str(membership.pk)])
    # Signed in, and held at the second-factor enrolment the clinic's policy requires of its admins.
    held = client.get(checklist)
    assert held.status_code == 302
    assert held["Location"].startswith(reverse("mfa:security"))


def test_a_staff_member_lands_on_the_dashboard(client, tenant):
    _, token = invite(tenant, role=Role.RADIOLOGIST)
    response = client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response["Location"] == reverse("clinic-dashboard", kwargs={"tenant_slug": tenant.slug})


@pytest.mark.parametrize(
    "password, message",
    [
        ("short", "at least 12 characters"),
        ("123456789012345", "entirely numeric"),
        ("new@alpha.example1", "too similar"),
    ],
)
def test_a_weak_password_is_refused_with_the_validators_reasons_and_nothing_changes(
    client, tenant, password, message
):
    _, token = invite(tenant)
    response = client.post(accept_url(token), {"password1": password, "password2": password})
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["password1"])
    assert not User.objects.filter(email="new@alpha.example").exists()
    with tenant_scope(tenant):
        assert Invitation.objects.get().accepted_at is None


def test_mismatched_passwords_are_refused(client, tenant):
    _, token = invite(tenant)
    response = client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD + "x"})
    assert "differ" in " ".join(response.context["form"].errors["password2"])
    assert not User.objects.filter(email="new@alpha.example").exists()


def test_an_existing_account_signs_in_first_then_joins(client, tenant, other_tenant, member_factory):
    existing = member_factory(other_tenant, Role.RADIOLOGIST)
    give_authenticator_app(existing)
    _, token = invite(tenant, email=existing.email, role=Role.RADIOLOGIST)

    page = client.get(accept_url(token))
    assert "sign-in-first" in page.content.decode()
    # A password posted without signing in creates nothing and changes nothing.
    client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert not Membership.objects.filter(user=existing, tenant=tenant).exists()
    assert existing.check_password(PASSWORD)

    sign_in(client, existing.email)
    assert "join-clinic-form" in client.get(accept_url(token)).content.decode()
    response = client.post(accept_url(token))
    assert response.status_code == 302
    assert Membership.objects.get(user=existing, tenant=tenant).role == Role.RADIOLOGIST
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_JOINED, actor=existing).exists()


def test_someone_signed_in_with_another_account_cannot_use_it(client, tenant, member_factory):
    _, token = invite(tenant)
    stranger = member_factory(tenant, Role.TECHNOLOGIST)
    client.force_login(stranger)
    response = client.post(accept_url(token))
    assert "invitation-other-account" in response.content.decode()
    assert not User.objects.filter(email="new@alpha.example").exists()
    assert Membership.objects.get(user=stranger, tenant=tenant).role == Role.TECHNOLOGIST


def test_an_unknown_token_is_404(client):
    response = client.get(accept_url("not-a-token"))
    assert response.status_code == 404
    assert "No such invitation" in response.content.decode()


def expire(tenant, invitation):
    with tenant_scope(tenant):
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def revoke(tenant, invitation):
    with tenant_scope(tenant):
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())


@pytest.mark.parametrize("spoil, words", [(expire, "has expired"), (revoke, "was withdrawn")])
def test_an_expired_or_revoked_invitation_is_410_and_nothing_changes(client, tenant, spoil, words):
    invitation, token = invite(tenant)
    spoil(tenant, invitation)
    for response in (
        client.get(accept_url(token)),
        client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}),
    ):
        assert response.status_code == 410
        assert words in response.content.decode()
    assert not User.objects.filter(email="new@alpha.example").exists()
    assert not AuditEvent.objects.filter(action=AuditAction.MEMBER_JOINED).exists()


def test_a_used_invitation_cannot_be_used_again(client, tenant):
    _, token = invite(tenant)
    client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    client.logout()
    response = client.post(accept_url(token), {"password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert Membership.objects.filter(tenant=tenant).count() == 1


def test_resending_replaces_the_link_and_revoking_ends_it(admin_client, tenant):
    invitation, old_token = invite(tenant, email="tech@alpha.example", role=Role.TECHNOLOGIST)
    admin_client.post(
        reverse("invitation-resend", kwargs={"tenant_slug": "alpha", "invitation_id": invitation.pk})
    )
    [message] = mail.outbox
    new_path = message.body.split("http://testserver", 1)[1].split()[0]
    assert admin_client.get(accept_url(old_token)).status_code == 404
    admin_client.logout()
    assert admin_client.get(new_path).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.MEMBER_INVITED, details__resent=True).exists()

    invitation.tenant = tenant
    invitations.revoke_invitation(invitation, request=None)
    assert admin_client.get(new_path).status_code == 410


def test_a_patient_account_of_the_clinic_cannot_take_a_staff_invitation(client, tenant):
    _, token = invite(tenant)
    # They joined as a patient with an access code after the invitation went out.
    patient = UserFactory(email="new@alpha.example")
    Membership.objects.create(user=patient, tenant=tenant, role=Role.PATIENT)
    client.force_login(patient)
    response = client.post(accept_url(token))
    assert response.status_code == 410
    assert "already belongs" in response.content.decode()
    assert Membership.objects.get(user=patient, tenant=tenant).role == Role.PATIENT
