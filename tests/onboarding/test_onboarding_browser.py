"""A clinic onboards from request to go-live in a real browser: headless Chromium against the live server,
with a real Celery worker ingesting the first study. A screenshot is taken at each step (tmp_path).

Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop in the
test's thread, where Django refuses ORM calls. The live server runs in this process, so the e-mails it
sends land in django.core.mail.outbox (the test settings' in-memory backend).
"""

import base64
import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import User
from tests.ingest.samples import SAMPLES
from tests.mfa import PASSWORD, enter_code_in_browser, give_authenticator_app, totp_code
from tests.onboarding.certs import certificate_pem, make_certificate

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "violet tuesday harbour lamp"


@pytest.fixture
def operator(transactional_db):
    user = User.objects.create_superuser("operator@palisade.example", PASSWORD)
    give_authenticator_app(user)  # platform operators sign in with a second factor
    return user


@pytest.fixture
def peer_certificate(tmp_path):
    certificate, _ = make_certificate("ct-1", "Charlie Imaging")
    path = tmp_path / "ct-1.pem"
    path.write_bytes(certificate_pem(certificate))
    return path, certificate.subject.rfc4514_string()


def link_in(message, live_server) -> str:
    return live_server.url + re.search(r"https?://[^/\s]+(/invitations/\S+/)", message.body).group(1)


def test_a_clinic_goes_from_request_to_its_first_study_and_goes_live(
    live_server, operator, peer_certificate, celery_worker_process, chromium_page, tmp_path
):
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 900})

    def shot(name: str) -> None:
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)

    # 1. A visitor asks for an account.
    page.goto(f"{live_server.url}/onboarding/")
    page.fill("input[name=clinic_name]", "Charlie Imaging")
    page.select_option("select[name=country]", "DE")
    page.fill("input[name=slug]", "charlie")
    page.fill("input[name=contact_name]", "Dana Admin")
    page.fill("input[name=contact_email]", "dana@charlie.example")
    page.fill("input[name=privacy_contact_name]", "Pat Privacy")
    page.fill("input[name=privacy_contact_email]", "privacy@charlie.example")
    shot("01-request")
    page.click("button:has-text('Send the request')")
    expect(page.get_by_test_id("request-thanks")).to_be_visible()
    shot("02-request-sent")

    # 2. The operator approves it in Django admin, after their second factor.
    page.goto(f"{live_server.url}/accounts/login/?next=/admin/onboarding/clinicrequest/")
    page.fill("input[name=username]", operator.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(re.compile(r"/admin/onboarding/clinicrequest/"))
    row = page.locator("#result_list tbody tr", has_text="charlie")
    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "approve")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("was invited as its clinic admin")
    shot("03-approved-in-admin")
    page.context.clear_cookies()

    # 3. The invitation's link: a password, then the second factor the clinic requires of its admins.
    [invitation] = [message for message in mail.outbox if message.to == ["dana@charlie.example"]]
    page.goto(link_in(invitation, live_server))
    expect(page.get_by_test_id("invited-role")).to_have_text("Clinic admin")
    page.fill("input[name=full_name]", "Dana Admin")
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "short")
    page.click("button:has-text('Create my account')")
    expect(page.get_by_test_id("password1-errors")).to_contain_text("at least 12 characters")
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    shot("04-set-password")
    page.click("button:has-text('Create my account')")
    page.wait_for_url(re.compile(r"/accounts/security/\?next="))
    page.click("text=Add an authenticator app")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret).hex()
    page.fill("input[name=code]", totp_code(key))
    shot("05-enrol-authenticator")
    page.click("button:has-text('Add')")
    page.click("text=Continue to Palisade")

    # 4. The checklist: the account step is done, the rest to do.
    page.wait_for_url(f"{live_server.url}/t/charlie/onboarding/")
    expect(page.get_by_test_id("step-account")).to_have_attribute("data-done", "true")
    expect(page.get_by_test_id("step-agreements")).to_have_attribute("data-done", "false")
    expect(page.get_by_test_id("go-live")).to_be_disabled()
    shot("06-checklist")

    # 5. An upload before the agreements are accepted is refused: the page says why instead of taking
    # files, and the server refuses a file sent all the same.
    page.goto(f"{live_server.url}/t/charlie/upload/")
    expect(page.get_by_test_id("upload-refused")).to_contain_text("Ingestion refused")
    expect(page.locator("[data-testid=file-input]")).to_have_count(0)
    sample = (SAMPLES / "CT_small.dcm").read_bytes()
    sent = page.request.post(
        f"{live_server.url}/t/charlie/upload/files/",
        multipart={"file": {"name": "CT_small.dcm", "mimeType": "application/dicom", "buffer": sample}},
    )
    assert sent.status == 403
    assert "Ingestion refused" in sent.text()
    shot("07-upload-refused")

    # 6. The agreements an EU clinic needs: the DPA and the terms.
    page.goto(f"{live_server.url}/t/charlie/agreements/")
    for kind in ("dpa", "terms"):
        form = page.get_by_test_id(f"accept-{kind}")
        form.locator("input[name=signer_name]").fill("Dana Admin")
        form.locator("input[name=signer_role]").fill("Medical director")
        form.locator("input[name=accept]").check()
        form.locator("button:has-text('Accept')").click()
        expect(page.get_by_test_id(f"agreement-status-{kind}")).to_contain_text("In force")
    shot("08-agreements")

    # 7. The home region, with a replica, inside the EU.
    page.goto(f"{live_server.url}/t/charlie/onboarding/region/")
    expect(page.locator("input[value=us-1]")).to_have_count(0)
    page.check("input[name=home_region][value=eu-1]")
    page.check("input[name=replica_regions][value=eu-2]")
    shot("09-region")
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{live_server.url}/t/charlie/onboarding/")
    expect(page.get_by_test_id("step-region")).to_have_attribute("data-done", "true")

    # 8. A DICOM peer with its client certificate.
    certificate_path, subject = peer_certificate
    page.goto(f"{live_server.url}/t/charlie/dicom-peers/")
    expect(page.get_by_test_id("called-ae")).to_have_text("CHARLIE")
    page.fill("input[name=ae_title]", "CT1")
    page.fill("input[name=host]", "10.0.0.5")
    page.fill("input[name=port]", "104")
    page.set_input_files("input[name=certificate]", str(certificate_path))
    page.click("button:has-text('Register')")
    peer = page.locator("[data-testid=peer-row][data-ae-title=CT1]")
    expect(peer.get_by_test_id("peer-subject")).to_have_text(subject)
    expect(peer.get_by_test_id("peer-fingerprint")).to_be_visible()
    shot("10-dicom-peer")

    # 9. A member of staff invited.
    page.goto(f"{live_server.url}/t/charlie/members/")
    page.fill("input[name=email]", "tech@charlie.example")
    page.select_option("select[name=role]", "technologist")
    page.click("button:has-text('Send the invitation')")
    expect(page.locator("[data-testid=invitation-row][data-email='tech@charlie.example']")).to_be_visible()
    shot("11-member-invited")
    assert any(message.to == ["tech@charlie.example"] for message in mail.outbox)

    # 10. The first study, uploaded and ingested by the worker.
    page.goto(f"{live_server.url}/t/charlie/upload/")
    page.set_input_files("[data-testid=file-input]", [str(SAMPLES / "CT_small.dcm")])
    stored = page.locator("[data-testid=upload-row]").filter(has_text="CT_small.dcm")
    expect(stored.locator("[data-testid=upload-state]")).to_have_text("Stored", timeout=90_000)
    shot("12-first-study")

    # 11. Every step done: go live; the banner leaves the dashboard.
    page.goto(f"{live_server.url}/t/charlie/")
    expect(page.get_by_test_id("onboarding-banner")).to_contain_text("Your clinic is set up — go live")
    page.goto(f"{live_server.url}/t/charlie/onboarding/")
    for step in ("account", "agreements", "region", "peers", "members", "first_study"):
        expect(page.get_by_test_id(f"step-{step}")).to_have_attribute("data-done", "true")
    shot("13-checklist-done")
    page.click("[data-testid=go-live]")
    page.wait_for_url(f"{live_server.url}/t/charlie/")
    expect(page.locator(".message")).to_contain_text("Charlie Imaging is live.")
    expect(page.get_by_test_id("onboarding-banner")).to_have_count(0)
    expect(page.locator("table.studies")).to_be_visible()
    shot("14-live")
