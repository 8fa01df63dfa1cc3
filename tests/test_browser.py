"""Pages in a real browser: headless Debian Chromium driven by Playwright against the live server.

Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop
in the test's thread, where Django refuses ORM calls.
"""

import pytest

from accounts.roles import Role
from tests.factories import MembershipFactory, StudyFactory, TenantFactory
from tests.mfa import enter_code_in_browser, give_authenticator_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def radiologist(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    StudyFactory(tenant=tenant, description="CT CHEST", modalities_in_study="CT")
    user = MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user
    give_authenticator_app(user)  # staff sign in with a second factor (tests/test_mfa_browser.py)
    return user


def test_a_radiologist_signs_in_sees_the_clinic_and_signs_out(
    live_server, radiologist, chromium_page, tmp_path
):
    page = chromium_page

    page.goto(f"{live_server.url}/t/alpha/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", radiologist.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)

    page.wait_for_url(f"{live_server.url}/t/alpha/")
    assert page.inner_text("[data-testid=dashboard-role]") == "Radiologist"
    assert "CT CHEST" in page.inner_text("table.studies")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.click("text=Sign out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")


def test_a_wrong_password_shows_a_clear_error(live_server, radiologist, chromium_page):
    page = chromium_page

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", radiologist.email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")

    assert "Please enter a correct email and password" in page.inner_text("[role=alert]")
