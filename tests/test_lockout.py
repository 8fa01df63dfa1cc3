"""Sign-in throttling and lockout (THREATS.md, Access: "Lockout"): the 11th wrong password in a row locks,
and nothing in the answers tells a known address from an unknown one."""

import datetime
import io

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from accounts.lockout import is_locked_out, sign_in_name_digest
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.mail import mails, reset_link, start_mail_worker

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
LOCKED_MESSAGE = "The account is locked for 30 minutes or until an administrator unlocks it."


@pytest.fixture
def member(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


def sign_in(client: Client, email: str, password: str):
    return client.post(reverse("login"), {"username": email, "password": password})


def fail(client: Client, email: str, times: int) -> list:
    return [sign_in(client, email, WRONG) for _ in range(times)]


def test_ten_wrong_passwords_are_refused_as_wrong_and_the_eleventh_locks_the_account(client, member):
    wrong = fail(client, member.email, 10)
    eleventh = sign_in(client, member.email, WRONG)

    assert [response.status_code for response in wrong] == [200] * 10
    assert all("Please enter a correct email and password" in r.content.decode() for r in wrong)
    assert eleventh.status_code == 429
    page = eleventh.content.decode()
    assert "Too many failed sign-ins" in page and LOCKED_MESSAGE in page
    assert eleventh["Retry-After"] == "1800"
    assert is_locked_out(member)


def test_the_right_password_is_refused_while_the_account_is_locked(client, member):
    fail(client, member.email, 11)

    response = sign_in(client, member.email, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_the_threshold_is_a_setting(settings, client, member):
    settings.AXES_FAILURE_LIMIT = 3

    answers = [response.status_code for response in fail(client, member.email, 3)]

    assert answers == [200, 200, 429]


def test_a_successful_sign_in_starts_the_count_again(client, member):
    fail(client, member.email, 10)
    assert sign_in(client, member.email, PASSWORD).status_code == 302
    client.post(reverse("logout"))

    answers = [response.status_code for response in fail(client, member.email, 10)]

    assert answers == [200] * 10


def test_any_spelling_of_the_address_counts_against_the_same_account(client, member):
    fail(client, member.email.upper(), 5)
    fail(client, f"  {member.email}", 5)

    assert sign_in(client, member.email.title(), WRONG).status_code == 429


def test_an_unknown_address_gets_exactly_the_same_answers(client, member):
    known = fail(client, member.email, 12)
    unknown = fail(client, "nobody@example.org", 12)

    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [200] * 10 + [429, 429]
    for k, u in zip(known[:10], unknown[:10], strict=True):
        assert k.context["form"].errors == u.context["form"].errors
    for k, u in zip(known[10:], unknown[10:], strict=True):
        assert k.content == u.content
        assert k["Retry-After"] == u["Retry-After"]


class CountingHasher(MD5PasswordHasher):
    """MD5 as the suite uses it, counting how often a password is hashed."""

    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


def test_an_unknown_address_costs_one_password_hash_like_a_known_one(settings, client, member):
    settings.PASSWORD_HASHERS = ["tests.test_lockout.CountingHasher"]

    def hashes_for(email: str) -> int:
        CountingHasher.calls = 0
        sign_in(client, email, WRONG)
        return CountingHasher.calls

    assert hashes_for(member.email) == hashes_for("nobody@example.org") == 1
    fail(client, member.email, 10)
    fail(client, "nobody@example.org", 10)
    # Locked: refused before any password is hashed, for both alike.
    assert hashes_for(member.email) == hashes_for("nobody@example.org") == 0


def test_the_lockout_ends_with_the_cool_off(client, member):
    fail(client, member.email, 11)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=31))

    assert sign_in(client, member.email, PASSWORD).status_code == 302


def test_the_lockout_binds_the_name_from_that_address_only_by_default(member):
    here, elsewhere = Client(REMOTE_ADDR="192.0.2.10"), Client(REMOTE_ADDR="192.0.2.20")
    fail(here, member.email, 11)

    assert sign_in(here, member.email, PASSWORD).status_code == 429
    assert sign_in(elsewhere, member.email, PASSWORD).status_code == 302


def test_locking_by_name_alone_binds_it_from_every_address(settings, member):
    settings.AXES_LOCKOUT_PARAMETERS = ["username"]
    fail(Client(REMOTE_ADDR="192.0.2.10"), member.email, 11)

    assert sign_in(Client(REMOTE_ADDR="192.0.2.20"), member.email, PASSWORD).status_code == 429


def test_the_lockout_is_audited_once_and_every_refusal_as_a_failure(client, member):
    fail(client, member.email, 12)

    locked = AuditEvent.objects.get(action=AuditAction.SIGN_IN_LOCKED_OUT)
    assert locked.outcome == Outcome.FAILURE
    assert (locked.object_type, locked.object_ids) == ("user", [str(member.pk)])
    assert locked.details == {"attempted_name_hmac": sign_in_name_digest(member.email), "failures": 11}
    failures = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED).order_by("id")
    assert failures.count() == 12
    assert [bool(event.details.get("refused_while_locked")) for event in failures] == [False] * 11 + [True]
    assert member.email not in str([event.details for event in AuditEvent.objects.all()])


def test_axes_keeps_no_email_address(client, member):
    fail(client, member.email, 2)

    attempt = AccessAttempt.objects.get()
    assert attempt.username == sign_in_name_digest(member.email)
    assert member.email not in attempt.post_data and WRONG not in attempt.post_data


@pytest.fixture
def operator_client(db):
    operator = UserFactory(is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(operator)
    client.operator = operator
    return client


def test_an_operator_sees_the_lockout_and_unlocks_it_in_the_platform_admin(client, member, operator_client):
    fail(client, member.email, 11)
    change_page = operator_client.get(
        reverse("admin:accounts_user_change", args=[member.pk])
    ).content.decode()
    assert "Locked after 11 failed sign-ins" in change_page

    response = operator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_sign_in", "_selected_action": [member.pk]},
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.SIGN_IN_UNLOCKED)
    assert (event.actor, event.actor_role, event.object_ids) == (
        operator_client.operator,
        "platform_operator",
        [str(member.pk)],
    )
    assert event.details["by"] == "platform_admin"
    assert sign_in(client, member.email, PASSWORD).status_code == 302


def test_an_operator_unlocks_from_the_command_line(client, member):
    fail(client, member.email, 11)
    out = io.StringIO()

    call_command("unlock_sign_in", member.email.upper(), stdout=out)

    assert "Sign-in unlocked" in out.getvalue()
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_UNLOCKED, details__by="command").exists()
    assert sign_in(client, member.email, PASSWORD).status_code == 302


def test_setting_a_new_password_through_the_reset_email_unlocks_the_account(client, member, worker_factory):
    start_mail_worker(worker_factory)
    fail(client, member.email, 11)

    client.post(reverse("password_reset"), {"email": member.email})
    link = reset_link(mails()[0])
    form_url = client.get(link).url  # Django swaps the token for a session value, then redirects
    new = "a-fresh-passphrase-for-alpha"
    done = client.post(form_url, {"new_password1": new, "new_password2": new})

    assert done.status_code == 302
    assert sign_in(client, member.email, new).status_code == 302
    actions = set(AuditEvent.objects.filter(actor=member).values_list("action", flat=True))
    assert {
        AuditAction.PASSWORD_RESET_REQUESTED,
        AuditAction.PASSWORD_RESET,
        AuditAction.SIGN_IN_UNLOCKED,
    } <= actions
    assert AuditEvent.objects.get(action=AuditAction.SIGN_IN_UNLOCKED).details["by"] == "password_reset"


def test_the_platform_admin_sign_in_is_locked_the_same_way(client, operator_client):
    operator = operator_client.operator
    answers = [
        client.post(reverse("admin:login"), {"username": operator.email, "password": WRONG}).status_code
        for _ in range(11)
    ]

    assert answers == [200] * 10 + [429]


@pytest.fixture
def locked_member(transactional_db, settings):
    settings.AXES_FAILURE_LIMIT = 2
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    return MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lockout_page_says_why_and_for_how_long_in_a_browser(live_server, locked_member, chromium_page):
    page = chromium_page
    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(2):
        page.fill("input[name=username]", locked_member.email)
        page.fill("input[name=password]", WRONG)
        page.click("button[type=submit]")

    assert page.inner_text("h1") == "Too many failed sign-ins"
    assert page.inner_text("[role=alert]") == LOCKED_MESSAGE
    assert page.get_attribute("text=get a link by e-mail", "href") == "/accounts/password_reset/"
