"""The password policy: length, breached passwords, no reuse of recent ones, expiry per clinic, audit."""

import datetime

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import PasswordHistory, SecurityPolicy, User
from accounts.roles import Role
from accounts.security_policy import policy_for_tenant
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory
from tests.mfa import give_authenticator_app, sign_in

PASSWORD = "correct horse battery"
BREACHED = "iloveyou1234"  # twelve characters, in the breached-password lists shipped with the project


def messages_for(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return exc.messages
    return []


def set_passwords(user: User, *passwords: str) -> None:
    for password in passwords:
        user.set_password(password)
        user.save()


def change_password(client: Client, old: str, new: str):
    return client.post(
        reverse("password_change"), {"old_password": old, "new_password1": new, "new_password2": new}
    )


@pytest.fixture
def member(tenant, member_factory):
    user = member_factory(tenant, Role.TECHNOLOGIST)
    give_authenticator_app(user)  # staff sign in with a second factor (tests/test_mfa.py)
    return user


def test_eleven_characters_are_refused_and_twelve_accepted(db):
    assert any("at least 12 characters" in message for message in messages_for("vq3-lmk-9zt"))
    assert messages_for("vq3-lmk-9zt4") == []


@pytest.mark.parametrize("password", [BREACHED, BREACHED.upper(), "passwordpassword", "qwertyuiopasdf"])
def test_a_breached_password_is_refused_and_the_refusal_says_why(db, password):
    assert messages_for(password) == [
        "This password appears in a list of passwords exposed in data breaches, so attackers try it early. "
        "Choose another."
    ]


def test_the_change_page_shows_why_a_breached_password_is_refused(client, member):
    client.force_login(member)

    response = change_password(client, PASSWORD, BREACHED)

    assert response.status_code == 200
    assert "exposed in data breaches" in response.content.decode()
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)


def test_the_last_five_passwords_are_refused_and_the_sixth_back_is_allowed(member):
    old = [f"passphrase-number-{n}-of-alpha" for n in range(6)]
    set_passwords(member, *old)  # old[5] is the current one

    for recent in old[1:]:
        assert messages_for(recent, member) == [
            "You used this password recently. Choose one that differs from your last 5 passwords."
        ]
    assert messages_for(old[0], member) == []


def test_reuse_is_refused_on_the_change_page_too(client, member):
    set_passwords(member, "first-passphrase-of-alpha", "second-passphrase-of-alpha")
    client.force_login(member)

    response = change_password(client, "second-passphrase-of-alpha", "first-passphrase-of-alpha")

    assert "You used this password recently" in response.content.decode()


def test_the_current_password_counts_even_without_a_history(member):
    assert not PasswordHistory.objects.filter(user=member).exists()  # the factory sets a hash directly

    assert "You used this password recently" in messages_for(PASSWORD, member)[0]


def test_the_history_depth_is_the_clinics_and_zero_allows_reuse(tenant, member):
    policy = policy_for_tenant(tenant)
    policy.password_history = 2
    policy.save()
    old = [f"passphrase-number-{n}-of-alpha" for n in range(3)]
    set_passwords(member, *old)
    assert messages_for(old[0], member) == []
    assert messages_for(old[1], member) != []

    policy.password_history = 0
    policy.save()
    assert messages_for(old[2], member) == []


def test_a_member_of_two_clinics_keeps_the_longer_history(tenant, other_tenant, member, member_factory):
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=member)
    SecurityPolicy.objects.filter(tenant=tenant).update(password_history=1)
    SecurityPolicy.objects.filter(tenant=other_tenant).update(password_history=3)
    old = [f"passphrase-number-{n}-of-alpha" for n in range(4)]
    set_passwords(member, *old)

    assert messages_for(old[1], member) != []
    assert messages_for(old[0], member) == []


def test_the_history_keeps_hashes_never_passwords_and_at_most_24(member):
    set_passwords(member, *[f"passphrase-number-{n}-of-alpha" for n in range(30)])

    rows = list(PasswordHistory.objects.filter(user=member))
    assert len(rows) == 24
    assert rows[0].password == User.objects.get(pk=member.pk).password
    assert not any("passphrase" in row.password for row in rows)


def expire(tenant, user: User, *, max_age_days: int, age_days: int) -> None:
    SecurityPolicy.objects.filter(tenant=tenant).update(password_max_age_days=max_age_days)
    PasswordHistory.objects.create(
        user=user, password=user.password, created_at=timezone.now() - datetime.timedelta(days=age_days)
    )


def test_an_expired_password_must_be_changed_before_anything_else(client, tenant, member):
    expire(tenant, member, max_age_days=90, age_days=91)

    signed_in = sign_in(client, member.email)

    assert signed_in.redirect_chain[-1][0] == reverse("password_change")
    assert "older than your clinic allows" in signed_in.content.decode()
    assert client.get(reverse("clinic-dashboard", args=["alpha"]))["Location"] == reverse("password_change")
    api = client.get(reverse("api-me"))
    assert api.status_code == 403 and "password has expired" in api.json()["detail"]

    changed = change_password(client, PASSWORD, "a-brand-new-passphrase-42")

    assert changed.status_code == 302
    assert client.get(reverse("clinic-dashboard", args=["alpha"])).status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_CHANGED)
    assert (event.actor, event.object_ids, event.details) == (member, [str(member.pk)], {"by": "self"})


def test_a_password_younger_than_the_maximum_age_is_not_expired(client, tenant, member):
    expire(tenant, member, max_age_days=90, age_days=89)

    signed_in = sign_in(client, member.email)

    assert signed_in.redirect_chain[-1][0] == reverse("clinic-dashboard", args=["alpha"])


def test_the_shortest_maximum_age_of_a_members_clinics_applies(
    client, tenant, other_tenant, member, member_factory
):
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=member)
    expire(tenant, member, max_age_days=365, age_days=40)
    SecurityPolicy.objects.filter(tenant=other_tenant).update(password_max_age_days=30)

    signed_in = sign_in(client, member.email)

    assert signed_in.redirect_chain[-1][0] == reverse("password_change")


def test_passwords_do_not_expire_by_default(client, member):
    PasswordHistory.objects.create(
        user=member, password=member.password, created_at=timezone.now() - datetime.timedelta(days=3650)
    )

    signed_in = sign_in(client, member.email)

    assert signed_in.redirect_chain[-1][0] == reverse("clinic-dashboard", args=["alpha"])


def test_an_operator_setting_a_password_in_the_admin_is_audited(client, member):
    operator = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(operator)
    new = "set-by-the-operator-42"

    response = client.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": new, "password2": new, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert User.objects.get(pk=member.pk).check_password(new)
    event = AuditEvent.objects.get(action=AuditAction.PASSWORD_CHANGED)
    assert (event.actor, event.object_ids, event.details) == (
        operator,
        [str(member.pk)],
        {"by": "platform_admin"},
    )


def test_the_admin_refuses_a_breached_password_too(client, member):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    response = client.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": BREACHED, "password2": BREACHED, "usable_password": "true"},
    )

    assert response.status_code == 200
    assert "exposed in data breaches" in response.content.decode()
