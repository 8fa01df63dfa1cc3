"""OHIF in a real browser: a radiologist opens a study from the clinic's study list and sees the image.

Headless Debian Chromium driven by Playwright against the live server; OHIF itself is the npm build the
Makefile installs (tests/viewer.py says how to install it when it is missing). Data is made in fixtures set
up before `chromium_page`: Playwright's sync API runs an event loop in the test's thread, where Django
refuses ORM calls.
"""

import io

import pytest
from PIL import Image, ImageStat

from accounts.roles import Role
from tests.dicomweb.wado import ingest_sample
from tests.factories import MembershipFactory, TenantFactory
from tests.mfa import enter_code_in_browser, give_authenticator_app
from tests.viewer import require_installed_viewer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
# OHIF loads a 17 MB bundle, then the study; generous for a loaded two-core machine, still bounded.
VIEWER_TIMEOUT_MS = 90_000


@pytest.fixture
def ct_study(transactional_db):
    require_installed_viewer()
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    user = MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user
    give_authenticator_app(user)  # staff sign in with a second factor (tests/test_mfa_browser.py)
    # 128x128 CT, Explicit VR Little Endian.
    dataset = ingest_sample(tenant, "CT_small.dcm")
    return user, dataset


def _sign_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/t/alpha/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{live_server.url}/t/alpha/")


def _drawn_canvas_png(page) -> bytes:
    """A PNG of OHIF's first viewport canvas once it shows more than one colour (bounded wait)."""
    page.wait_for_function(
        """() => {
            const canvas = document.querySelector('.cornerstone-canvas, [data-viewport-uid] canvas');
            if (!canvas || canvas.width === 0 || canvas.height === 0) return false;
            const probe = document.createElement('canvas');
            probe.width = canvas.width; probe.height = canvas.height;
            const context = probe.getContext('2d');
            context.drawImage(canvas, 0, 0);
            const pixels = context.getImageData(0, 0, probe.width, probe.height).data;
            for (let i = 4; i < pixels.length; i += 4) {
                if (pixels[i] !== pixels[0] || pixels[i + 1] !== pixels[1] || pixels[i + 2] !== pixels[2]) {
                    return true;
                }
            }
            return false;
        }""",
        timeout=VIEWER_TIMEOUT_MS,
        polling=500,
    )
    return page.locator(".cornerstone-canvas, [data-viewport-uid] canvas").first.screenshot()


def test_a_radiologist_opens_a_ct_from_the_study_list_and_ohif_draws_it(
    live_server, ct_study, chromium_page, tmp_path
):
    user, dataset = ct_study
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 800})
    failed = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))

    _sign_in(page, live_server, user)
    page.click("[data-testid=open-in-viewer]")
    page.wait_for_url(f"{live_server.url}/viewer/t/alpha/viewer?StudyInstanceUIDs={dataset.StudyInstanceUID}")

    canvas_png = _drawn_canvas_png(page)
    screenshot = tmp_path / "ohif-viewer.png"
    page.screenshot(path=str(screenshot))

    assert page.evaluate("window.crossOriginIsolated") is True
    extrema = ImageStat.Stat(Image.open(io.BytesIO(canvas_png)).convert("L")).extrema[0]
    assert extrema[0] < extrema[1], "the viewport canvas is one flat colour"
    assert screenshot.stat().st_size > 0
    assert not [url for url in failed if "/dicomweb/" in url or "/viewer/" in url], failed
