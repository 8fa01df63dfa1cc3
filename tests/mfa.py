"""Second factors in tests: a known authenticator app, its codes, and sessions that passed one."""

import re
import time

from django.test import Client
from django.urls import reverse
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.sessions import session_verified_data
from accounts.models import User

# RFC 6238's test secret ("12345678901234567890"), hex as TOTPDevice.key keeps it.
TEST_TOTP_KEY = "3132333435363738393031323334353637383930"
PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


def give_authenticator_app(user: User, key: str = TEST_TOTP_KEY) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Test authenticator app", key=key, confirmed=True)


def totp_code(key: str = TEST_TOTP_KEY, *, steps_ahead: int = 0) -> str:
    """The app's code now, or of a later 30-second step: a code is accepted once per step (django-otp
    refuses replays), and the next step's code is within the default tolerance of one step."""
    totp = TOTP(bytes.fromhex(key))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def sign_in_with_password(client: Client, user: User, password: str = PASSWORD, **extra):
    """The first step only: the sign-in form, followed to wherever it leads."""
    return client.post(reverse("login"), {"username": user.email, "password": password}, follow=True, **extra)


def sign_in(client: Client, email: str, password: str = PASSWORD, *, key: str = TEST_TOTP_KEY):
    """Both steps through the forms: the password, then, when asked, the authenticator app's code.
    Returns the last response, followed to wherever it leads."""
    response = client.post(reverse("login"), {"username": email, "password": password}, follow=True)
    if response.redirect_chain and response.redirect_chain[-1][0].startswith(reverse("mfa:verify")):
        response = client.post(response.redirect_chain[-1][0], {"code": totp_code(key)}, follow=True)
    return response


def pass_second_factor(client: Client, code: str, next_url: str = ""):
    return client.post(reverse("mfa:verify"), {"code": code, "next": next_url})


def verify_client_session(client: Client, user: User) -> None:
    """Mark the client's signed-in session as having passed a second factor: one of the user's devices,
    or a test authenticator app given for the purpose."""
    device = next(devices_for_user(user), None) or give_authenticator_app(user)
    session = client.session
    session.update(session_verified_data(device))
    session.save()


def enter_code_in_browser(page, code: str | None = None) -> None:
    """At the second-factor page a password sign-in leads to, type the code (by default the test
    authenticator app's current one)."""
    page.wait_for_url(re.compile(r"/accounts/login/verify/"))
    page.fill("input[name=code]", code or totp_code())
    page.click("button:has-text('Verify')")
