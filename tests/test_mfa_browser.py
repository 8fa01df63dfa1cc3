"""Second factors in a real browser: headless Debian Chromium driven by Playwright against the live server.
Passkeys are made and used by Chromium's virtual authenticator (DevTools protocol, WebAuthn domain), so
django-otp-webauthn's own JavaScript runs the ceremonies as it would with a phone or a security key.

Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop in the
test's thread, where Django refuses ORM calls.
"""

import base64
import re

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from tests.factories import MembershipFactory, StudyFactory, TenantFactory
from tests.mfa import PASSWORD, TEST_TOTP_KEY, enter_code_in_browser, give_authenticator_app, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def clinic(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    StudyFactory(tenant=tenant, description="CT CHEST", modalities_in_study="CT")
    return tenant


@pytest.fixture
def newcomer(clinic):
    """A technologist who has never set up a second factor."""
    return MembershipFactory(tenant=clinic, role=Role.TECHNOLOGIST).user


@pytest.fixture
def enrolled(clinic):
    """A radiologist with an authenticator app (tests.mfa.TEST_TOTP_KEY)."""
    user = MembershipFactory(tenant=clinic, role=Role.RADIOLOGIST).user
    give_authenticator_app(user)
    return user


@pytest.fixture
def passkey_site(settings, live_server):
    # The live server's origin is http://localhost:<port>: the relying party is "localhost".
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]


def enter_password(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/t/alpha/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def enter_code(page, code: str) -> None:
    enter_code_in_browser(page, code)


def sign_out(page, live_server) -> None:
    page.click("text=Sign out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")


def expect_clinic_page(page, live_server) -> None:
    page.wait_for_url(f"{live_server.url}/t/alpha/")
    expect(page.locator("table.studies")).to_contain_text("CT CHEST")


def test_a_newcomer_enrols_an_authenticator_app_then_signs_in_with_its_code(
    live_server, newcomer, chromium_page, tmp_path
):
    page = chromium_page
    enter_password(page, live_server, newcomer)

    page.wait_for_url(re.compile(r"/accounts/security/\?next="))
    expect(page.get_by_test_id("mfa-required")).to_be_visible()
    page.click("text=Add an authenticator app")
    qr = page.get_by_test_id("totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 0  # an SVG drawn by the server, inline
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret).hex()
    page.screenshot(path=str(tmp_path / "enrol.png"), full_page=True)
    page.fill("input[name=code]", totp_code(key))
    page.click("button:has-text('Add')")

    expect(page.locator(".message")).to_have_text("Authenticator app added.")
    page.click("text=Continue to Palisade")
    expect_clinic_page(page, live_server)

    sign_out(page, live_server)
    enter_password(page, live_server, newcomer)
    enter_code(page, totp_code(key, steps_ahead=1))
    expect_clinic_page(page, live_server)


def test_a_backup_code_signs_in_once(live_server, enrolled, chromium_page):
    page = chromium_page
    enter_password(page, live_server, enrolled)
    enter_code(page, totp_code(TEST_TOTP_KEY))
    expect_clinic_page(page, live_server)
    page.click("text=Security")
    page.click("text=Create backup codes")
    codes = page.get_by_test_id("backup-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.click("text=I have saved them")

    sign_out(page, live_server)
    enter_password(page, live_server, enrolled)
    enter_code(page, codes[3])
    expect_clinic_page(page, live_server)

    sign_out(page, live_server)
    enter_password(page, live_server, enrolled)
    enter_code(page, codes[3])
    expect(page.locator(".errors[role=alert]")).to_contain_text("That code is not valid")
    assert "/accounts/login/verify/" in page.url


def test_a_passkey_is_registered_and_then_used_as_the_second_factor(
    live_server, passkey_site, newcomer, chromium_page
):
    page = chromium_page
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]

    enter_password(page, live_server, newcomer)
    page.wait_for_url(re.compile(r"/accounts/security/\?next="))
    page.click("text=Add a passkey")
    page.click("#passkey-register-button")

    # django-otp-webauthn's script registers, then passkeys.js goes back to the security page.
    page.wait_for_url(re.compile(r"/accounts/security/\?next="))
    expect(page.get_by_test_id("devices")).to_contain_text("Passkey")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"
    page.click("text=Continue to Palisade")
    expect_clinic_page(page, live_server)

    sign_out(page, live_server)
    enter_password(page, live_server, newcomer)
    page.wait_for_url(re.compile(r"/accounts/login/verify/"))
    page.click("#passkey-verification-button")
    expect_clinic_page(page, live_server)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credentials[0]["signCount"] >= 2
