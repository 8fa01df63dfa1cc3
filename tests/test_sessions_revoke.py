"""The "Your sessions" page: a user sees where they are signed in and ends the sessions they do not want,
which are refused from their next request on; API tokens are not sessions and go on working."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import SessionEndReason, UserSession
from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory
from tests.sessions import (
    FIREFOX_ON_LINUX,
    SAFARI_ON_IPHONE,
    freeze_clock,
    is_signed_in,
    page_messages,
    session_of,
    set_policy,
    sign_in_with_form,
    signed_in,
)


@pytest.fixture
def member(tenant, member_factory):
    set_policy(tenant)
    return member_factory(tenant, Role.RADIOLOGIST)


def test_the_page_lists_each_session_with_its_device_address_and_last_use(member):
    laptop = sign_in_with_form(member, HTTP_USER_AGENT=FIREFOX_ON_LINUX, REMOTE_ADDR="192.0.2.10")
    sign_in_with_form(member, HTTP_USER_AGENT=SAFARI_ON_IPHONE, REMOTE_ADDR="198.51.100.7")

    response = laptop.get(reverse("sessions"))

    page = response.content.decode()
    rows = {(s.device, s.ip_address) for s in response.context["sessions"]}
    assert rows == {("Firefox on Linux", "192.0.2.10"), ("Safari on iPhone", "198.51.100.7")}
    assert "Firefox on Linux" in page and "Safari on iPhone" in page and "198.51.100.7" in page
    assert response.context["current"] == session_of(laptop)
    assert page.count('data-testid="current-session"') == 1
    assert f'data-session-id="{session_of(laptop).pk}"' in page


def test_a_user_ends_one_other_session_which_is_refused_at_its_next_request(member):
    laptop, phone, tablet = signed_in(member), signed_in(member), signed_in(member)
    phone_session = session_of(phone)
    phone_key = phone.session.session_key

    response = laptop.post(reverse("session-revoke", args=[phone_session.pk]))

    assert response.status_code == 302 and response.url == reverse("sessions")
    refused = phone.get(reverse("sessions"))
    assert refused.status_code == 302 and refused.url.startswith(reverse("login"))
    assert page_messages(phone.get(refused.url)) == [
        "This session was ended from another of your sessions. Sign in again to continue."
    ]
    assert not SessionStore().exists(phone_key)
    assert is_signed_in(laptop) and is_signed_in(tablet)
    phone_session.refresh_from_db()
    assert phone_session.ended_reason == SessionEndReason.REVOKED
    event = AuditEvent.objects.get(action=AuditAction.SESSION_REVOKED)
    assert event.actor == member
    assert event.object_ids == [str(phone_session.pk)]
    assert event.details == {"revoked_session_ref": phone_session.key_digest}
    assert event.session_ref == session_of(laptop).key_digest


def test_revoke_all_ends_every_other_session_at_its_next_request(member):
    laptop, phone, tablet = signed_in(member), signed_in(member), signed_in(member)
    others = sorted([session_of(phone).pk, session_of(tablet).pk])

    response = laptop.post(reverse("sessions-revoke-others"), follow=True)

    assert page_messages(response) == ["2 other sessions ended."]
    assert not is_signed_in(phone) and not is_signed_in(tablet)
    assert is_signed_in(laptop)
    event = AuditEvent.objects.get(action=AuditAction.SESSIONS_REVOKED_ALL)
    assert sorted(int(pk) for pk in event.object_ids) == others
    assert [s.pk for s in UserSession.objects.filter(ended_at__isnull=True)] == [session_of(laptop).pk]


def test_the_api_answers_401_to_a_revoked_session_and_tokens_go_on_working(tenant, member):
    laptop, script_host = signed_in(member), signed_in(member)
    _, token = issue_token(member, tenant)
    laptop.post(reverse("sessions-revoke-others"))

    refused = script_host.get(reverse("api-me"))
    dicomweb = signed_in(member)
    laptop.post(reverse("sessions-revoke-others"))
    dicomweb_refused = dicomweb.get(f"/dicomweb/{tenant.slug}/studies")

    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["detail"].startswith("This session was ended from another of your sessions")
    assert dicomweb_refused.status_code == 401
    assert Client().get(reverse("api-me"), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_an_api_token_is_unaffected_by_session_timeouts(monkeypatch, tenant, member):
    clock = freeze_clock(monkeypatch)
    _, token = issue_token(member, tenant)
    browser = signed_in(member)
    clock.advance(hours=13)

    assert Client().get(reverse("api-me"), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    # The same request from a browser whose session timed out is still answered by the token.
    response = browser.get(reverse("api-me"), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


def test_nobody_ends_another_users_session_nor_their_own_current_one_this_way(member, tenant, member_factory):
    mine = signed_in(member)
    stranger = signed_in(member_factory(tenant, Role.RADIOLOGIST))

    assert mine.post(reverse("session-revoke", args=[session_of(stranger).pk])).status_code == 404
    assert mine.post(reverse("session-revoke", args=[session_of(mine).pk])).status_code == 404
    assert is_signed_in(stranger) and is_signed_in(mine)
    assert not AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).exists()


def test_ending_a_session_takes_a_post_with_a_csrf_token(member):
    other = signed_in(member)
    target = session_of(other).pk
    careful = Client(enforce_csrf_checks=True)
    careful.force_login(member)

    assert signed_in(member).get(reverse("session-revoke", args=[target])).status_code == 405
    assert careful.post(reverse("session-revoke", args=[target])).status_code == 403
    assert careful.post(reverse("sessions-revoke-others")).status_code == 403
    assert is_signed_in(other)


def test_the_pages_are_for_signed_in_users(db):
    anonymous = Client()

    assert anonymous.get(reverse("sessions")).url.startswith(reverse("login"))
    assert anonymous.get(reverse("session-keepalive")).status_code == 401


def test_an_operator_lists_sessions_read_only_and_can_end_one(member, db):
    operator = signed_in(UserFactory(is_staff=True, is_superuser=True))
    phone = sign_in_with_form(member, HTTP_USER_AGENT=SAFARI_ON_IPHONE)
    phone_session = session_of(phone)
    changelist = reverse("admin:accounts_usersession_changelist")

    listing = operator.get(changelist)
    assert listing.status_code == 200
    assert "Safari on iPhone" in listing.content.decode()
    assert operator.get(reverse("admin:accounts_usersession_add")).status_code == 403

    operator.post(changelist, {"action": "end_selected", "_selected_action": [phone_session.pk], "index": 0})

    assert not is_signed_in(phone)
    event = AuditEvent.objects.get(action=AuditAction.SESSION_REVOKED)
    assert (event.actor_role, event.object_ids) == ("platform_operator", [str(phone_session.pk)])
    phone_session.refresh_from_db()
    assert phone_session.ended_reason == SessionEndReason.ENDED_BY_OPERATOR


def test_members_of_staff_cannot_see_everyones_sessions(member, tenant, member_factory):
    clinic_admin = signed_in(member_factory(tenant, Role.TENANT_ADMIN))

    response = clinic_admin.get(reverse("admin:accounts_usersession_changelist"))

    assert response.status_code == 302 and "/admin/login/" in response.url
