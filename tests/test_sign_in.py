import hashlib
import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from accounts.lockout import sign_in_name_digest
from accounts.models import User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from portal.management.commands.seed_demo import DEMO_DOMAIN, demo_password, demo_totp_key
from tests.mail import mails, start_mail_worker
from tests.mfa import sign_in


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_demo_user_signs_in_and_sees_their_role(demo, client, role):
    email = f"{role.value.replace('_', '-')}@{DEMO_DOMAIN}"

    # The demo clinic's policy requires a second factor of its staff: seed_demo gave each an authenticator
    # app (tests/test_mfa.py for the second factor itself).
    response = sign_in(client, email, demo_password(email), key=demo_totp_key(email).hex())

    if role == Role.PATIENT:
        # Patients land on their own images, across their clinics (portal/patients).
        assert response.redirect_chain[-1][0] == reverse("my-images")
        return
    assert response.redirect_chain[-1][0] == reverse("clinic-dashboard", args=["demo"])
    assert f'data-testid="dashboard-role">{role.label}<' in response.content.decode()


def test_sign_in_is_by_email_in_any_case(demo, client):
    email = f"radiologist@{DEMO_DOMAIN}"

    response = client.post(reverse("login"), {"username": email.upper(), "password": demo_password(email)})

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN, actor__email=email).exists()


def test_sign_in_rotates_the_session_key(demo, client):
    email = f"radiologist@{DEMO_DOMAIN}"
    session = client.session
    session["probe"] = 1
    session.save()
    before = client.session.session_key
    assert before is not None

    client.post(reverse("login"), {"username": email, "password": demo_password(email)})

    assert client.session.session_key != before


def test_unknown_user_and_wrong_password_get_the_same_answer(demo, client):
    unknown = client.post(reverse("login"), {"username": "nobody@example.org", "password": "whatever-it-is"})
    wrong = client.post(
        reverse("login"), {"username": f"billing@{DEMO_DOMAIN}", "password": "whatever-it-is"}
    )

    assert unknown.status_code == wrong.status_code == 200
    assert unknown.context["form"].errors == wrong.context["form"].errors


def test_a_failed_sign_in_is_audited_without_the_email(demo, client):
    email = "patient@demo-clinic.example"
    client.post(reverse("login"), {"username": email, "password": "not-the-password"})

    event = AuditEvent.objects.get(action=AuditAction.SIGN_IN_FAILED)
    assert event.outcome == Outcome.FAILURE
    assert event.actor is None
    assert email not in str(event.details)
    # A keyed digest: an unkeyed SHA-256 of the address could be found by hashing candidate addresses.
    assert event.details["attempted_name_hmac"] == sign_in_name_digest(email.upper())
    assert event.details["attempted_name_hmac"] != hashlib.sha256(email.encode()).hexdigest()


def test_sign_out_is_a_post_and_is_audited(demo, client):
    user = User.objects.get(email=f"auditor@{DEMO_DOMAIN}")
    client.force_login(user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_OUT, actor=user).exists()
    assert client.get(reverse("home")).status_code == 302


def test_password_change_enforces_the_policy(demo, client):
    email = f"technologist@{DEMO_DOMAIN}"
    client.force_login(User.objects.get(email=email))
    old = demo_password(email)

    too_short = client.post(
        reverse("password_change"),
        {"old_password": old, "new_password1": "short1", "new_password2": "short1"},
    )
    ok = client.post(
        reverse("password_change"),
        {
            "old_password": old,
            "new_password1": "a-long-passphrase-42",
            "new_password2": "a-long-passphrase-42",
        },
    )

    assert "at least 12 characters" in too_short.content.decode()
    assert ok.status_code == 302
    assert User.objects.get(email=email).check_password("a-long-passphrase-42")


def test_password_reset_sends_a_link_only_to_known_users_and_says_the_same_either_way(
    demo, client, worker_factory
):
    start_mail_worker(worker_factory)
    # The worker runs one task at a time, in order: once the known address's mail is written, the
    # unknown one's task has ended too.
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    known = client.post(reverse("password_reset"), {"email": f"billing@{DEMO_DOMAIN}"}, follow=True)

    assert known.content == unknown.content
    assert mail.outbox == []  # nothing is sent while the answer is made, for either address
    (sent,) = mails()
    assert f"To: billing@{DEMO_DOMAIN}" in sent
    assert "/accounts/reset/" in sent
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET_REQUESTED).count() == 1


def test_a_user_without_a_clinic_sees_an_explanation(db, client):
    client.force_login(User.objects.create_user("lonely@example.org", "a-long-passphrase-42"))

    assert "does not belong to a clinic yet" in client.get(reverse("home")).content.decode()


def test_a_member_of_two_clinics_chooses_between_them(client, tenant, other_tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    member_factory(other_tenant, Role.REFERRING_PHYSICIAN, user=user)
    client.force_login(user)

    page = client.get(reverse("home")).content.decode()

    assert "Alpha Imaging" in page and "Bravo Radiology" in page
