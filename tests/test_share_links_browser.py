"""A share link with a PIN in a real browser: the recipient, without an account, types the PIN, lands on
the link's page with the token gone from the address bar, and OHIF draws the shared study.

Headless Debian Chromium driven by Playwright against the live server, as in tests/test_viewer_browser.py
(data made in fixtures before `chromium_page`: Playwright's sync API runs an event loop in the test's
thread, where Django refuses ORM calls)."""

import io

import pytest
from django.contrib.auth.hashers import make_password
from PIL import Image, ImageStat

from imaging.models import Study
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ingest_sample
from tests.factories import ShareLinkFactory, TenantFactory
from tests.test_viewer_browser import VIEWER_TIMEOUT_MS, _drawn_canvas_png
from tests.viewer import require_installed_viewer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIN = "7306"


@pytest.fixture
def shared_ct(transactional_db):
    require_installed_viewer()
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    dataset = ingest_sample(tenant, "CT_small.dcm")
    with tenant_scope(tenant):
        study = Study.objects.get(study_instance_uid=dataset.StudyInstanceUID)
    link = ShareLinkFactory(tenant=tenant, studies=[study], pin_hash=make_password(PIN), use_limit=3)
    return link.token, dataset


def test_a_recipient_opens_a_pin_protected_link_and_ohif_draws_the_study(
    live_server, shared_ct, chromium_page, tmp_path
):
    token, dataset = shared_ct
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 800})
    failed = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    referers = []
    page.on("request", lambda request: referers.append(request.headers.get("referer", "")))

    page.goto(f"{live_server.url}/s/{token}/")
    page.fill("input[name=answer]", PIN)
    page.click("[data-testid=open-link]")
    page.wait_for_url(f"{live_server.url}/s/")
    assert token not in page.url
    page.screenshot(path=str(tmp_path / "share-link-studies.png"))
    page.click("[data-testid=open-in-viewer]")
    page.wait_for_url(
        f"{live_server.url}/viewer/t/alpha/viewer?StudyInstanceUIDs={dataset.StudyInstanceUID}",
        timeout=VIEWER_TIMEOUT_MS,
    )

    canvas_png = _drawn_canvas_png(page)
    screenshot = tmp_path / "share-link-viewer.png"
    page.screenshot(path=str(screenshot))

    extrema = ImageStat.Stat(Image.open(io.BytesIO(canvas_png)).convert("L")).extrema[0]
    assert extrema[0] < extrema[1], "the viewport canvas is one flat colour"
    assert screenshot.stat().st_size > 0
    assert not [url for url in failed if "/dicomweb/" in url or "/viewer/" in url], failed
    assert not [referer for referer in referers if token in referer]
