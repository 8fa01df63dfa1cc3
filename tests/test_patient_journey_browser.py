"""Issue 8's acceptance journey in a real browser, at a phone's size and a desktop's: a patient joins with
the access code their clinic issued and their date of birth, finds their study on My images, opens it in
the light viewer, downloads it as a ZIP a real Celery worker builds (its DICOMDIR read with pydicom),
gives then withdraws research consent, and sees the radiologist's earlier view in their access history.

Headless Debian Chromium driven by Playwright against the live server. The clinic, its study and the
consent text are made in a fixture before `chromium_page`: Playwright's sync API runs an event loop in the
test's thread, where Django refuses ORM calls. The radiologist opens the study and issues the code in a
browser context of their own. Each step leaves a screenshot in tmp_path.
"""

import datetime
import io
import re
import zipfile

import pydicom
import pytest
from pydicom.multival import MultiValue

from accounts.roles import Role
from imaging.models import Study
from portal.consents import services as consents
from portal.consents.models import ConsentPurpose
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ingest_sample
from tests.factories import MembershipFactory, TenantFactory
from tests.sessions import set_policy
from tests.test_mobile_viewer_browser import DESKTOP, PHONE, TIMEOUT_MS, _assert_not_blank, _drawn

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BIRTH_DATE = datetime.date(1961, 7, 3)
EMAIL = "ct.patient@example.org"
PASSWORD = "violet kettle marches north"
STAFF_PASSWORD = "correct horse battery"  # tests.factories.UserFactory's
RESEARCH_TEXT = "Researchers may use my images with my name and details removed."


@pytest.fixture
def clinic(transactional_db, worker_factory):
    """Alpha Imaging, asking no second factor of anyone; CT_small.dcm ingested, its patient's date of
    birth on record (the sample carries none); a radiologist; a published research consent text; a
    worker for downloads."""
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    set_policy(tenant)
    radiologist = MembershipFactory(
        tenant=tenant, role=Role.RADIOLOGIST, user__full_name="Dr Ada Reader"
    ).user
    admin = MembershipFactory(tenant=tenant, role=Role.TENANT_ADMIN).user
    sample = ingest_sample(tenant, "CT_small.dcm")
    with tenant_scope(tenant):
        patient = Study.objects.get(study_instance_uid=sample.StudyInstanceUID).patient
        assert patient.birth_date is None
        patient.birth_date = BIRTH_DATE  # the indexed DateField the join checks
        patient.save(update_fields=["birth_date"])
    consents.publish_text(
        tenant=tenant, purpose=ConsentPurpose.RESEARCH_DEIDENTIFIED, text=RESEARCH_TEXT, actor=admin
    )
    worker_factory("downloads")
    return sample, radiologist


def _radiologist_views_the_study_and_issues_a_code(page, live_server, tmp_path, size, radiologist, sample):
    """At the clinic, in the radiologist's own browser context: they open the study (the view the
    patient will see listed), then issue a printed access code on the staff page. Returns the code."""
    page.goto(f"{live_server.url}/t/alpha/")
    page.fill("input[name=username]", radiologist.email)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/t/alpha/")
    page.goto(f"{live_server.url}/t/alpha/studies/{sample.StudyInstanceUID}/")
    page.click("[data-testid=issue-access-code]")
    page.check("input[name=delivery][value=print]")
    page.fill("input[name=valid_days]", "30")
    page.click("[data-testid=access-code-form] button[type=submit]")
    code = page.locator("[data-testid=access-code]")
    code.wait_for()
    _shot(page, tmp_path, size, "00-staff-access-code")
    return code.inner_text().strip()


def _shot(page, tmp_path, size: str, step: str) -> None:
    page.screenshot(path=str(tmp_path / f"journey-{size}-{step}.png"), full_page=True)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_patient_joins_views_downloads_decides_on_consent_and_sees_who_looked(
    size, live_server, clinic, chromium_page, tmp_path
):
    sample, radiologist = clinic
    viewport = PHONE if size == "phone" else DESKTOP
    staff = chromium_page.context.browser.new_context(viewport=viewport)
    staff_page = staff.new_page()
    staff_page.set_default_timeout(TIMEOUT_MS)
    code = _radiologist_views_the_study_and_issues_a_code(
        staff_page, live_server, tmp_path, size, radiologist, sample
    )
    staff.close()
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4})+", code), code

    page = chromium_page
    page.set_default_timeout(TIMEOUT_MS)
    page.set_viewport_size(viewport)
    failed: list[str] = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))

    # Joining: the code, the date of birth, an e-mail address and a password.
    page.goto(f"{live_server.url}/patients/join/")
    page.fill("input[name=code]", code.lower())  # as a patient might type it
    page.fill("input[name=birth_date]", BIRTH_DATE.isoformat())
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    _shot(page, tmp_path, size, "01-join")
    page.click("[data-testid=join-form] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/my/images/")

    # My images: the clinic and the study.
    assert page.title() == "My images · Palisade"
    assert page.locator("[data-testid=clinic-name]").all_inner_texts() == ["Alpha Imaging"]
    card = page.locator("[data-testid=my-study]")
    assert card.count() == 1
    card_text = card.inner_text()
    assert "19 Jan 2004" in card_text and "CT" in card_text
    _shot(page, tmp_path, size, "02-my-images")

    # The light viewer draws the image.
    card.locator("[data-testid=open-in-light-viewer]").click()
    page.wait_for_url(f"{live_server.url}/t/alpha/studies/{sample.StudyInstanceUID}/light/")
    shown = _drawn(page)
    page.screenshot(path=str(tmp_path / f"journey-{size}-03-light-viewer.png"))
    _assert_not_blank(shown)
    assert shown["src"].endswith(f"/instances/{sample.SOPInstanceUID}/frames/1/rendered")

    # The download: a DICOM ZIP the worker builds while the page follows its progress.
    page.goto(f"{live_server.url}/my/images/")
    page.click("[data-testid=my-study] [data-testid=download]")
    page.check("[data-testid=format-dicom_zip]")
    _shot(page, tmp_path, size, "04-download-format")
    page.click("[data-testid=start-download]")
    page.wait_for_url(re.compile(r"/download"))
    link = page.locator("[data-testid=download-link]")
    link.wait_for(state="visible", timeout=120_000)
    assert page.locator("#download-state").inner_text() == "Ready. 1 of 1 images."
    _shot(page, tmp_path, size, "05-download-ready")
    with page.expect_download() as download_info:
        link.click()
    saved = tmp_path / f"journey-{size}-study.zip"
    download_info.value.save_as(saved)
    archive = zipfile.ZipFile(saved)
    names = archive.namelist()
    assert names[0] == "DICOMDIR" and len(names) == 2, names
    dicomdir = pydicom.dcmread(io.BytesIO(archive.read("DICOMDIR")))
    records = {record.DirectoryRecordType: record for record in dicomdir.DirectoryRecordSequence}
    assert records["STUDY"].StudyInstanceUID == sample.StudyInstanceUID
    image = records["IMAGE"]
    assert image.ReferencedSOPInstanceUIDInFile == sample.SOPInstanceUID
    file_id = image.ReferencedFileID
    referenced = "/".join(file_id) if isinstance(file_id, MultiValue) else file_id
    instance = pydicom.dcmread(io.BytesIO(archive.read(referenced)))
    assert instance.SOPInstanceUID == sample.SOPInstanceUID

    # Research consent: given, then withdrawn.
    page.goto(f"{live_server.url}/my/images/")
    page.click("[data-testid=my-consents]")
    page.wait_for_url(f"{live_server.url}/my/consents/")
    research = page.locator(
        f"[data-testid=consent-purpose][data-purpose={ConsentPurpose.RESEARCH_DEIDENTIFIED.value}]"
    )
    assert RESEARCH_TEXT in research.locator("[data-testid=consent-text]").inner_text()
    assert research.locator("[data-testid=consent-state]").inner_text() == "Not asked yet"
    research.locator("[data-testid=consent-grant]").click()
    page.wait_for_url(re.compile(r"/my/consents/"))
    assert research.locator("[data-testid=consent-state]").inner_text() == "Given"
    _shot(page, tmp_path, size, "06-consent-given")
    research.locator("[data-testid=consent-withdraw]").click()
    page.wait_for_url(re.compile(r"/my/consents/"))
    assert research.locator("[data-testid=consent-state]").inner_text() == "Withdrawn"
    assert research.locator("[data-testid=consent-grant]").count() == 1
    research.locator("summary").click()
    history = research.locator("[data-testid=consent-history] li").all_inner_texts()
    assert sorted(line.split(": ", 1)[1] for line in history) == [
        "given (text version 1)",
        "withdrawn (text version 1)",
    ], history
    _shot(page, tmp_path, size, "07-consent-withdrawn")

    # Who looked at my images: the radiologist's view, with their role.
    page.goto(f"{live_server.url}/my/images/")
    page.click("[data-testid=access-history]")
    page.wait_for_url(f"{live_server.url}/t/alpha/access-history/")
    assert page.locator("h1").inner_text() == "Who viewed my images"
    rows = page.locator("[data-testid=access-history] tbody tr")
    seen = [[cell.strip() for cell in row.locator("td").all_inner_texts()[1:4]] for row in rows.all()]
    assert ["Dr Ada Reader", "Radiologist", "Viewed study"] in seen, seen
    _shot(page, tmp_path, size, "08-access-history")

    assert not failed, failed
    for step in (
        "00-staff-access-code",
        "01-join",
        "02-my-images",
        "03-light-viewer",
        "04-download-format",
        "05-download-ready",
        "06-consent-given",
        "07-consent-withdrawn",
        "08-access-history",
    ):
        assert (tmp_path / f"journey-{size}-{step}.png").stat().st_size > 0
