"""Session lifetime (THREATS.md, Access: "Sessions"): the key is rotated at sign-in, and a session ends at
its clinic policy's idle timeout and absolute lifetime, checked by the server, tested with a frozen clock."""

import hashlib

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import SessionEndReason, UserSession
from accounts.roles import Role
from accounts.sessions.devices import describe_device
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory
from tests.sessions import (
    FIREFOX_ON_LINUX,
    PASSWORD,
    SAFARI_ON_IPHONE,
    freeze_clock,
    is_signed_in,
    page_messages,
    session_of,
    set_policy,
    signed_in,
)


@pytest.fixture
def clock(monkeypatch):
    return freeze_clock(monkeypatch)


@pytest.fixture
def member(tenant, member_factory):
    set_policy(tenant)
    return member_factory(tenant, Role.RADIOLOGIST)


def test_signing_in_gives_the_session_a_new_key_and_kills_the_old_one(member):
    client = Client()
    before = client.session  # an anonymous session, as a fixation attacker would plant
    before["probe"] = 1
    before.save()

    response = client.post(reverse("login"), {"username": member.email, "password": PASSWORD})

    assert response.status_code == 302

    after = client.session.session_key
    assert after != before.session_key
    assert not SessionStore().exists(before.session_key)
    session = UserSession.objects.get(user=member)
    assert session.key_digest == hashlib.sha256(after.encode()).hexdigest()
    # The same digest links the audit trail's events of this session.
    assert AuditEvent.objects.get(action=AuditAction.SIGN_IN).session_ref == session.key_digest


def test_a_session_idle_one_second_short_of_the_policy_still_works(clock, tenant, member):
    set_policy(tenant, idle_timeout_minutes=10)
    client = signed_in(member)

    clock.advance(minutes=9, seconds=59)

    assert is_signed_in(client)


def test_an_idle_session_ends_at_the_policys_minute(clock, tenant, member):
    set_policy(tenant, idle_timeout_minutes=10)
    client = signed_in(member)
    key = client.session.session_key

    clock.advance(minutes=10)
    response = client.get(reverse("sessions"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('sessions')}"
    assert page_messages(client.get(response.url)) == [
        "You were signed out after 10 minutes without activity. Sign in again to continue."
    ]
    assert not SessionStore().exists(key)
    session = UserSession.objects.get(user=member)
    assert (session.ended_at, session.ended_reason) == (clock.now, SessionEndReason.IDLE)
    event = AuditEvent.objects.get(action=AuditAction.SESSION_EXPIRED)
    assert (event.actor, event.details) == (member, {"reason": "idle"})
    assert event.session_ref == session.key_digest


def test_requests_keep_a_session_alive(clock, tenant, member):
    set_policy(tenant, idle_timeout_minutes=10)
    client = signed_in(member)

    for _ in range(6):
        clock.advance(minutes=9)
        assert is_signed_in(client)


def test_activity_is_written_at_most_once_a_minute(clock, member):
    client = signed_in(member)
    signed_in_at = clock.now

    clock.advance(seconds=59)
    client.get(reverse("sessions"))
    assert session_of(client).last_seen_at == signed_in_at

    clock.advance(seconds=1)
    client.get(reverse("sessions"))
    assert session_of(client).last_seen_at == clock.now


def test_a_session_ends_at_its_absolute_lifetime_however_active(clock, tenant, member):
    set_policy(tenant, idle_timeout_minutes=30, absolute_lifetime_hours=1)
    client = signed_in(member)
    for _ in range(2):
        clock.advance(minutes=20)
        assert is_signed_in(client)
    clock.advance(minutes=19, seconds=59)
    assert is_signed_in(client)

    clock.advance(seconds=1)
    response = client.get(reverse("sessions"), follow=True)

    assert page_messages(response) == [
        "Your session reached its maximum length of 1 hour. Sign in again to continue."
    ]
    assert UserSession.objects.get(user=member).ended_reason == SessionEndReason.LIFETIME


def test_a_member_of_two_clinics_gets_the_shorter_idle_timeout(
    clock, tenant, other_tenant, member, member_factory
):
    set_policy(tenant, idle_timeout_minutes=15)
    set_policy(other_tenant, idle_timeout_minutes=5)
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=member)
    client = signed_in(member)

    clock.advance(minutes=5)

    assert not is_signed_in(client)


def test_a_user_in_no_clinic_gets_the_default_fifteen_minutes(clock, db):
    client = signed_in(UserFactory())
    clock.advance(minutes=14, seconds=59)
    assert is_signed_in(client)

    clock.advance(minutes=15)

    assert not is_signed_in(client)


def test_a_shortened_timeout_reaches_sessions_already_open(clock, tenant, member):
    client = signed_in(member)

    set_policy(tenant, idle_timeout_minutes=5)
    clock.advance(minutes=5)

    assert not is_signed_in(client)


def test_a_signed_in_session_the_server_did_not_start_is_refused(member):
    client = signed_in(member)
    UserSession.objects.all().delete()  # a session from before session control

    assert not is_signed_in(client)


def test_pages_carry_the_idle_deadline_for_the_warning(clock, tenant, member, settings):
    settings.PALISADE_SESSION_WARNING_SECONDS = 90
    set_policy(tenant, idle_timeout_minutes=10)
    client = signed_in(member)
    clock.advance(seconds=30)  # not yet written as activity: the deadline is still sign-in + 10 minutes

    page = client.get(reverse("sessions")).content.decode()

    assert 'data-idle-seconds="570"' in page
    assert 'data-warning-seconds="90"' in page
    assert 'src="/static/js/session-expiry.js"' in page
    assert "session-warning" not in Client().get(reverse("login")).content.decode()


def test_asking_how_long_is_left_is_not_activity_but_staying_signed_in_is(clock, tenant, member):
    set_policy(tenant, idle_timeout_minutes=10, absolute_lifetime_hours=12)
    client = signed_in(member)
    signed_in_at = clock.now
    clock.advance(minutes=8)

    asked = client.get(reverse("session-keepalive"))
    assert asked.json() == {"idle_seconds": 120, "lifetime_seconds": 12 * 3600 - 480}
    assert session_of(client).last_seen_at == signed_in_at

    stayed = client.post(reverse("session-keepalive"))
    assert stayed.json()["idle_seconds"] == 600
    clock.advance(minutes=9)
    assert is_signed_in(client)


def test_the_keepalive_answers_401_once_the_session_has_ended(clock, member):
    client = signed_in(member)
    clock.advance(minutes=15)

    response = client.get(reverse("session-keepalive"), HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert response.json()["detail"].startswith("You were signed out after 15 minutes")
    assert client.get(reverse("session-keepalive")).status_code == 401


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (FIREFOX_ON_LINUX, "Firefox on Linux"),
        (SAFARI_ON_IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.6478.71 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Unknown device"),
    ],
)
def test_the_device_is_named_from_the_user_agent(user_agent, device):
    assert describe_device(user_agent) == device
