"""The upload page in a real browser, against the live server and a real Celery worker.

Data is made in fixtures set up before `chromium_page`: Playwright's sync API runs an event loop
in the test's thread, where Django refuses ORM calls.
"""

import zipfile

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from imaging.upload.views import STORAGE_FULL_MESSAGE
from tests.factories import MembershipFactory, TenantFactory
from tests.ingest.samples import SAMPLES
from tests.mfa import enter_code_in_browser, give_authenticator_app

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
TRUNCATED_REASON = "The Pixel Data element is longer than the bytes left in the file."


@pytest.fixture
def technologist(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    user = MembershipFactory(tenant=tenant, role=Role.TECHNOLOGIST).user
    give_authenticator_app(user)  # staff sign in with a second factor (tests/test_mfa_browser.py)
    return user


def sign_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next=/t/alpha/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{live_server.url}/t/alpha/")


def test_a_technologist_uploads_files_and_follows_each_to_stored_or_refused(
    live_server, technologist, celery_worker_process, chromium_page, tmp_path
):
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, technologist)
    page.click("text=Upload studies")
    page.wait_for_url(f"{live_server.url}/t/alpha/upload/")

    page.set_input_files(
        "[data-testid=file-input]",
        [str(SAMPLES / "CT_small.dcm"), str(SAMPLES / "MR_small.dcm"), str(SAMPLES / "MR_truncated.dcm")],
    )

    rows = page.locator("[data-testid=upload-row]")
    expect(rows).to_have_count(3)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        row = rows.filter(has_text=name)
        expect(row.locator("[data-testid=upload-state]")).to_have_text("Stored", timeout=60_000)
        assert row.locator("progress").evaluate("bar => bar.value") == 1
    refused = rows.filter(has_text="MR_truncated.dcm")
    expect(refused.locator("[data-testid=upload-state]")).to_have_text(TRUNCATED_REASON)
    expect(refused).to_have_attribute("data-state", "rejected")
    assert refused.locator("progress").evaluate("bar => bar.value") == 1
    assert refused.locator("[data-testid=upload-state]").evaluate("s => getComputedStyle(s).color") == (
        "rgb(170, 17, 17)"
    )
    batch = page.locator("[data-testid=upload-batch]")
    expect(batch.locator(".batch-title")).to_have_text("3 of 3 files done · 1 needs attention")
    expect(batch.locator(".batch-bytes")).to_have_text("57 KB of 57 KB sent")
    page.screenshot(path=str(tmp_path / "upload-laptop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "upload-phone.png"), full_page=True)

    page.click("text=Ingestion")
    table = page.locator("[data-testid=ingest-jobs]")
    expect(table).to_contain_text("MR_truncated.dcm")
    expect(table).to_contain_text(TRUNCATED_REASON)
    page.screenshot(path=str(tmp_path / "ingestion-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(tmp_path / "ingestion-laptop.png"), full_page=True)


def test_a_folder_with_a_zip_lists_every_member_with_its_verdict(
    live_server, technologist, celery_worker_process, chromium_page, tmp_path
):
    folder = tmp_path / "exam"
    (folder / "series").mkdir(parents=True)
    (folder / "series" / "CT_small.dcm").write_bytes((SAMPLES / "CT_small.dcm").read_bytes())
    (folder / ".DS_Store").write_bytes(b"Bud1")
    with zipfile.ZipFile(folder / "more.zip", "w") as archive:
        archive.write(SAMPLES / "MR_small.dcm", "MR_small.dcm")
        archive.write(SAMPLES / "MR_truncated.dcm", "MR_truncated.dcm")
    page = chromium_page
    sign_in(page, live_server, technologist)
    page.goto(f"{live_server.url}/t/alpha/upload/")

    page.set_input_files("[data-testid=folder-input]", str(folder))

    rows = page.locator("[data-testid=upload-row]")
    expect(rows).to_have_count(2)  # the .DS_Store is left out
    expect(
        rows.filter(has_text="exam/series/CT_small.dcm").locator("[data-testid=upload-state]")
    ).to_have_text("Stored", timeout=60_000)
    archive_row = rows.filter(has_text="exam/more.zip")
    expect(archive_row.locator("[data-testid=upload-state]")).to_have_text(
        "2 objects: 1 stored, 1 refused", timeout=60_000
    )
    expect(archive_row.locator(".member", has_text="MR_small.dcm")).to_contain_text("Stored")
    expect(archive_row.locator(".member", has_text="MR_truncated.dcm")).to_contain_text(TRUNCATED_REASON)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(tmp_path / "upload-folder-phone.png"), full_page=True)


def test_a_file_too_large_or_a_full_disk_is_told_on_its_row(
    live_server, technologist, settings, tiny_disk, chromium_page
):
    settings.PALISADE_MAX_OBJECT_BYTES = settings.PALISADE_MAX_ZIP_BYTES = 20_000
    (tiny_disk / "ballast").write_bytes(bytes(250 * 1024))  # too little room left for MR_small
    page = chromium_page
    sign_in(page, live_server, technologist)
    page.goto(f"{live_server.url}/t/alpha/upload/")

    page.set_input_files(
        "[data-testid=file-input]", [str(SAMPLES / "CT_small.dcm"), str(SAMPLES / "MR_small.dcm")]
    )

    rows = page.locator("[data-testid=upload-row]")
    expect(rows.filter(has_text="CT_small.dcm").locator("[data-testid=upload-state]")).to_have_text(
        "This file is larger than the 20 KB the clinic accepts in one upload."
    )
    full = rows.filter(has_text="MR_small.dcm")
    expect(full.locator("[data-testid=upload-state]")).to_have_text(STORAGE_FULL_MESSAGE + " Retry")
    expect(full).to_have_attribute("data-state", "failed")
