"""The idle-timeout warning in a real browser (headless Chromium, Playwright, the live server).

The clinic's idle timeout is one minute and the warning comes 55 seconds ahead, so the banner shows
within seconds. The server's clock is frozen (the live server runs in this process) and the page's is
Playwright's, so the end of the session is reached by moving both, not by waiting.
Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop in the
test's thread, where Django refuses ORM calls.
"""

import re

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from tests.factories import MembershipFactory, TenantFactory
from tests.sessions import PASSWORD, freeze_clock, set_policy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WARNING_SECONDS = 55


@pytest.fixture
def member(transactional_db, settings):
    settings.PALISADE_SESSION_WARNING_SECONDS = WARNING_SECONDS
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    set_policy(tenant, idle_timeout_minutes=1)
    return MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user


def sign_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next=/accounts/sessions/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/accounts/sessions/")


def test_the_warning_appears_before_the_idle_timeout_and_staying_signed_in_hides_it(
    live_server, member, chromium_page
):
    page = chromium_page
    sign_in(page, live_server, member)
    banner = page.get_by_test_id("session-warning")
    expect(banner).to_be_hidden()

    # One minute of idle time, warned 55 seconds ahead: about five seconds after the page loaded.
    expect(banner).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("session-warning-text")).to_have_text(
        re.compile(r"^You will be signed out in \d+ seconds for inactivity\.$")
    )
    with page.expect_response(lambda r: r.url.endswith("/accounts/sessions/keepalive/")) as answer:
        page.get_by_test_id("stay-signed-in").click()

    assert answer.value.request.method == "POST" and answer.value.status == 200
    assert answer.value.json()["idle_seconds"] > WARNING_SECONDS
    expect(banner).to_be_hidden()


def test_once_the_session_has_timed_out_the_page_goes_to_sign_in_and_says_why(
    live_server, member, chromium_page, monkeypatch
):
    server_clock = freeze_clock(monkeypatch)
    page = chromium_page
    page.clock.install()
    sign_in(page, live_server, member)

    server_clock.advance(seconds=61)
    page.clock.fast_forward("01:05")

    page.wait_for_url(re.compile(r"/accounts/login/\?next=%2Faccounts%2Fsessions%2F$"), timeout=20_000)
    expect(page.locator(".message")).to_have_text(
        "You were signed out after 1 minute without activity. Sign in again to continue."
    )
