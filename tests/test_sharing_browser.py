"""Sharing with a referring doctor in a real browser: headless Debian Chromium driven by Playwright
against the live server. The radiologist and the doctor each have their own browser context (their own
cookies), as two people at two computers would.

Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop in the
test's thread, where Django refuses ORM calls.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from tests.factories import MembershipFactory, PatientFactory, StudyFactory, TenantFactory, UserFactory
from tests.mfa import enter_code_in_browser, give_authenticator_app

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
DOCTOR = "dr.grey@example.org"


@pytest.fixture
def clinic(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    study = StudyFactory(
        tenant=tenant,
        patient=PatientFactory(tenant=tenant, name="Doe^Jane"),
        description="CT CHEST",
        modalities_in_study="CT",
    )
    radiologist = MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user
    doctor = MembershipFactory(
        tenant=tenant,
        role=Role.REFERRING_PHYSICIAN,
        user=UserFactory(email=DOCTOR, full_name="Dr Meredith Grey"),
    ).user
    # Staff sign in with a second factor (tests/test_mfa_browser.py); each has their own device.
    give_authenticator_app(radiologist)
    give_authenticator_app(doctor)
    return radiologist, study.study_instance_uid


def sign_in(page, live_server, email: str) -> None:
    page.goto(f"{live_server.url}/t/alpha/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{live_server.url}/t/alpha/")


def test_a_radiologist_shares_a_study_with_a_doctor_then_revokes_it(
    live_server, clinic, chromium_page, tmp_path
):
    radiologist, study_uid = clinic
    study_url = f"{live_server.url}/t/alpha/studies/{study_uid}/"
    last_day = timezone.localdate() + timedelta(days=14)
    sharer = chromium_page
    doctor = sharer.context.browser.new_context().new_page()

    # The radiologist opens the study from the clinic's list and shares it.
    sign_in(sharer, live_server, radiologist.email)
    sharer.click("table.studies >> text=CT CHEST")
    sharer.wait_for_url(study_url)
    sharer.click("[data-testid=share-study]")
    sharer.fill("input[name=email]", DOCTOR)
    sharer.fill("input[name=last_day]", last_day.isoformat())
    sharer.fill("textarea[name=note]", "Nodule in the right upper lobe, please advise.")
    sharer.check("input[name=allow_download]")
    sharer.screenshot(path=str(tmp_path / "share-form.png"), full_page=True)
    sharer.click("button:has-text('Share')")
    sharer.wait_for_url(study_url)
    assert f"Shared with {DOCTOR} until {last_day:%Y-%m-%d}." in sharer.inner_text(".message")
    share_row = sharer.locator("[data-testid=share-row]")
    assert "Dr Meredith Grey" in share_row.inner_text() and "yes" in share_row.inner_text()
    assert f"{last_day:%Y-%m-%d}" in share_row.inner_text()
    sharer.screenshot(path=str(tmp_path / "who-has-access.png"), full_page=True)

    # The doctor finds it on their worklist, marked new, and opens it.
    sign_in(doctor, live_server, DOCTOR)
    doctor.click("[data-testid=nav-worklist]")
    doctor.wait_for_url(f"{live_server.url}/shared/")
    row = doctor.locator("[data-testid=worklist-row]")
    assert row.count() == 1
    assert "CT CHEST" in row.inner_text() and "Alpha Imaging" in row.inner_text()
    assert doctor.locator("[data-testid=new-share]").count() == 1
    doctor.screenshot(path=str(tmp_path / "worklist.png"), full_page=True)
    doctor.click("[data-testid=open-study]")
    doctor.wait_for_url(study_url)
    assert "Nodule in the right upper lobe" in doctor.inner_text("[data-testid=shared-with-me]")
    assert doctor.locator("[data-testid=access-panel]").count() == 0

    # The radiologist revokes; the doctor's very next load is refused.
    sharer.reload()
    sharer.click("[data-testid=revoke-share]")
    sharer.wait_for_url(study_url)
    assert "no longer opens anything" in sharer.inner_text(".message")
    assert sharer.locator("[data-testid=share-row]").count() == 0

    refused = doctor.reload()
    assert refused.status == 404
    assert "CT CHEST" not in doctor.content() and "Doe^Jane" not in doctor.content()
    doctor.screenshot(path=str(tmp_path / "doctor-after-revocation.png"), full_page=True)
    doctor.goto(f"{live_server.url}/shared/")
    assert doctor.locator("[data-testid=worklist-empty]").count() == 1
    for name in ("share-form", "who-has-access", "worklist", "doctor-after-revocation"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
