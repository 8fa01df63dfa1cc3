"""A clinic admin in a real browser (headless Chromium through Playwright, against the live server):
the settings hub, the security policy, and a study erased from the retention page down to its
printable certificate. Screenshots of each page are kept in the test's folder.

Data is made before `chromium_page` starts: Playwright's sync API runs an event loop in the test's
thread, where Django refuses ORM calls.
"""

import datetime

import pytest

from accounts.roles import Role
from tests.factories import MembershipFactory, PatientFactory, SeriesFactory, StudyFactory, TenantFactory
from tests.mfa import enter_code_in_browser, give_authenticator_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def clinic(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging", replica_regions=["eu-2"])
    patient = PatientFactory(tenant=tenant, patient_id="MRN-7", birth_date=datetime.date(1970, 1, 1))
    study = StudyFactory(tenant=tenant, patient=patient, study_date=datetime.date(2001, 1, 1))
    SeriesFactory(tenant=tenant, study=study)
    admin = MembershipFactory(tenant=tenant, role=Role.TENANT_ADMIN).user
    give_authenticator_app(admin)
    return admin, study.study_instance_uid


def shot(page, tmp_path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_the_only_admin_erases_a_study_from_the_pages_and_prints_its_certificate(
    live_server, clinic, chromium_page, tmp_path
):
    admin, study_uid = clinic
    page = chromium_page
    base = f"{live_server.url}/t/alpha"
    page.goto(f"{base}/settings/")
    page.fill("input[name=username]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{base}/settings/")

    assert page.inner_text("[data-testid=clinic-ae-title]") == "ALPHA"
    assert page.inner_text("[data-testid=clinic-replicas]") == "eu-2"
    shot(page, tmp_path, "clinic-settings")

    page.click("[data-testid=hub-clinic-security-policy]")
    page.fill("input[name=idle_timeout_minutes]", "10")
    page.click("button:has-text('Save')")
    assert "Security policy saved" in page.inner_text("main")
    shot(page, tmp_path, "security-policy")

    page.goto(f"{base}/retention/")
    page.click("summary:has-text('Add a rule')")
    page.fill("[data-testid=rule-form] input[name=years_after_study]", "10")
    page.click("button:has-text('Add the rule')")
    assert "1 study past retention to destroy" in page.inner_text("[data-testid=retention-dry-run]")
    page.click("summary:has-text('Request the erasure of a study')")
    page.fill("[data-testid=erasure-form] input[name=study_uid]", study_uid)
    page.fill("[data-testid=erasure-form] input[name=reason]", "Patient's request, ticket 77")
    page.click("button:has-text('Request erasure')")
    shot(page, tmp_path, "retention")

    page.fill(
        "[data-testid=erasure-request] input[placeholder='Why you decide alone']", "Sole admin, ticket 77"
    )
    page.click("button:has-text('Approve and destroy')")
    page.wait_for_url(f"{base}/retention/certificates/*/")

    assert study_uid in page.inner_text("[data-testid=certificate]")
    assert "matches" in page.inner_text("[data-testid=certificate-audit]")
    shot(page, tmp_path, "certificate")
    page.emulate_media(media="print")
    assert not page.is_visible("header.topbar")
    shot(page, tmp_path, "certificate-print")
