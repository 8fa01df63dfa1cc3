"""Sessions end when what they were granted on changes: a new password signs the user out everywhere but
the session that set it (a reset: everywhere), and new or lost rights end the user's sessions, so that the
rights are used only after a fresh sign-in; a change made from the user's own session renews its key."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, SessionEndReason, UserSession
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory
from tests.mail import mails, reset_link, start_mail_worker
from tests.sessions import PASSWORD, is_signed_in, page_messages, session_of, set_policy, signed_in

NEW_PASSWORD = "a-fresh-passphrase-for-alpha"


@pytest.fixture
def member(tenant, member_factory):
    set_policy(tenant)
    return member_factory(tenant, Role.RADIOLOGIST)


def ended_reasons(user) -> set[str]:
    return set(
        UserSession.objects.filter(user=user, ended_at__isnull=False).values_list("ended_reason", flat=True)
    )


def test_changing_the_password_keeps_this_session_under_a_new_key_and_ends_the_others(member):
    here, elsewhere = signed_in(member), signed_in(member)
    here_session = session_of(here)
    key_before = here.session.session_key

    response = here.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert is_signed_in(here)
    assert here.session.session_key != key_before
    assert session_of(here).pk == here_session.pk  # the same session, followed to its new key
    refused = elsewhere.get(reverse("sessions"), follow=True)
    assert refused.redirect_chain[-1][0].startswith(reverse("login"))
    assert page_messages(refused) == [
        "Your password was changed, so this session was ended. Sign in with the new password."
    ]
    assert ended_reasons(member) == {SessionEndReason.PASSWORD_CHANGED}
    event = AuditEvent.objects.get(action=AuditAction.SESSIONS_ENDED)
    assert event.details["reason"] == "password_changed" and len(event.details["sessions"]) == 1


def test_a_password_reset_ends_every_session(member, worker_factory):
    start_mail_worker(worker_factory)
    laptop, phone = signed_in(member), signed_in(member)
    visitor = Client()

    visitor.post(reverse("password_reset"), {"email": member.email})
    link = reset_link(mails()[0])
    form_url = visitor.get(link).url
    assert (
        visitor.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}).status_code
        == 302
    )

    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert ended_reasons(member) == {SessionEndReason.PASSWORD_RESET}
    assert not UserSession.objects.filter(user=member, ended_at__isnull=True).exists()


def test_a_password_set_by_an_operator_ends_the_users_sessions(member):
    operator = signed_in(UserFactory(is_staff=True, is_superuser=True))
    laptop = signed_in(member)

    response = operator.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert not is_signed_in(laptop)
    assert is_signed_in(operator)
    assert ended_reasons(member) == {SessionEndReason.PASSWORD_CHANGED}


def make_superuser(user, tenant) -> None:
    user.is_superuser = True
    user.save()


def make_staff(user, tenant) -> None:
    user.is_staff = True
    user.save()


def change_role(user, tenant) -> None:
    membership = Membership.objects.get(user=user, tenant=tenant)
    membership.role = Role.TENANT_ADMIN
    membership.save()


def add_to_another_clinic(user, tenant) -> None:
    from tests.factories import TenantFactory

    Membership.objects.create(user=user, tenant=TenantFactory(), role=Role.RADIOLOGIST)


def remove_from_the_clinic(user, tenant) -> None:
    Membership.objects.get(user=user, tenant=tenant).delete()


@pytest.mark.parametrize(
    "change", [make_superuser, make_staff, change_role, add_to_another_clinic, remove_from_the_clinic]
)
def test_a_change_of_rights_ends_the_users_sessions_at_their_next_request(change, member, tenant):
    laptop, phone = signed_in(member), signed_in(member)
    keys = [laptop.session.session_key, phone.session.session_key]

    change(member, tenant)

    response = laptop.get(reverse("sessions"), follow=True)
    assert page_messages(response) == ["Your access rights changed. Sign in again to continue."]
    assert not is_signed_in(phone)
    assert not any(SessionStore().exists(key) for key in keys)
    assert ended_reasons(member) == {SessionEndReason.PRIVILEGE_CHANGED}
    event = AuditEvent.objects.get(action=AuditAction.SESSIONS_ENDED)
    assert (event.object_ids, event.details["reason"]) == ([str(member.pk)], "privilege_changed")


def test_a_disabled_users_sessions_end(member):
    laptop = signed_in(member)

    member.is_active = False
    member.save()

    assert not is_signed_in(laptop)
    assert ended_reasons(member) == {SessionEndReason.ACCOUNT_DISABLED}


def test_saving_a_user_without_changing_rights_ends_nothing(member):
    laptop = signed_in(member)

    member.full_name = "Dr Alpha"
    member.save()
    membership = Membership.objects.get(user=member)
    membership.save()

    assert is_signed_in(laptop)
    assert not AuditEvent.objects.filter(action=AuditAction.SESSIONS_ENDED).exists()


def test_a_rights_change_made_from_the_users_own_session_renews_its_key(tenant):
    set_policy(tenant)
    operator_user = UserFactory(is_staff=True, is_superuser=True)
    operator, operator_elsewhere = signed_in(operator_user), signed_in(operator_user)
    key_before = operator.session.session_key

    response = operator.post(
        reverse("admin:accounts_membership_add"),
        {"user": operator_user.pk, "tenant": tenant.pk, "role": Role.AUDITOR},
    )

    assert response.status_code == 302
    assert Membership.objects.filter(user=operator_user, tenant=tenant).exists()
    assert operator.session.session_key != key_before
    assert not SessionStore().exists(key_before)
    assert is_signed_in(operator)
    assert not is_signed_in(operator_elsewhere)
