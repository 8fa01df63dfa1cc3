"""The report and the transparency page in headless Chromium, under the portal's real
Content-Security-Policy (no unsafe-inline): nothing refused, the charts drawn."""

import pytest

from tests.mfa import enter_code_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def test_a_clinic_admin_reads_the_report_and_the_transparency_page_with_nothing_refused(
    live_server, known_clinic, chromium_page, tmp_path
):
    page = chromium_page
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Refused" in message.text else None)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", known_clinic.admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{live_server.url}/t/alpha/")

    response = page.goto(f"{live_server.url}/t/alpha/compliance/")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert page.is_visible("[data-testid=chart-ingestion]")
    box = page.locator("[data-testid=chart-storage]").bounding_box()
    assert box["width"] > 200 and box["height"] > 40
    # The report's own stylesheet applied: the status badges have their background colour.
    colour = page.eval_on_selector(
        "[data-testid=safeguard-hipaa-encryption-status]",
        "element => getComputedStyle(element).backgroundColor",
    )
    assert colour == "rgb(227, 243, 234)"
    page.screenshot(path=str(tmp_path / "compliance-report.png"), full_page=True)

    page.goto(f"{live_server.url}/t/alpha/transparency/")
    assert page.inner_text("[data-testid=region-eu-2-jurisdiction]") == "EU"
    page.screenshot(path=str(tmp_path / "transparency.png"), full_page=True)
    assert refused == []
