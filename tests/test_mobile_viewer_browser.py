"""The light viewer in a real browser, at a phone's size and a desktop's: the image is drawn, scrolling shows
the next frame and window/level asks the server for another rendering.

Headless Debian Chromium driven by Playwright against the live server, as in tests/test_viewer_browser.py
(data made in fixtures before `chromium_page`: Playwright's sync API runs an event loop in the test's
thread, where Django refuses ORM calls)."""

import pytest

from accounts.roles import Role
from imaging.models import Study
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ingest_sample
from tests.factories import MembershipFactory, ShareLinkFactory, TenantFactory
from tests.mfa import give_authenticator_app
from tests.test_viewer_browser import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 30_000

# The main image's pixels, drawn on a canvas: the request it came from, and a digest to compare.
_IMAGE_STATE = """() => {
    const image = document.getElementById('mv-image');
    if (!image.complete || image.naturalWidth === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let low = 255, high = 0, sum = 0, hash = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const grey = pixels[i];
        low = Math.min(low, grey); high = Math.max(high, grey); sum += grey;
        hash = (hash * 31 + grey) | 0;
    }
    return {src: image.dataset.src, low, high, mean: sum / (pixels.length / 4), hash,
            width: canvas.width, height: canvas.height};
}"""


@pytest.fixture
def studies(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    radiologist = MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user
    give_authenticator_app(radiologist)
    ct = ingest_sample(tenant, "CT_small.dcm")  # 128x128 CT, one image
    mr = ingest_sample(tenant, "MR_enhanced_multiframe.dcm")  # Enhanced MR, 10 frames
    with tenant_scope(tenant):
        mr_study = Study.objects.get(study_instance_uid=mr.StudyInstanceUID)
    link = ShareLinkFactory(tenant=tenant, studies=[mr_study])
    return radiologist, ct, mr, link.token


def _drawn(page, previous_src: str | None = None) -> dict:
    """The main image once it is drawn (and, given `previous_src`, drawn from another request)."""
    page.wait_for_function(
        f"(previous) => {{ const s = ({_IMAGE_STATE})(); return s !== null && s.src !== previous; }}",
        arg=previous_src,
        timeout=TIMEOUT_MS,
    )
    return page.evaluate(_IMAGE_STATE)


def _assert_not_blank(state: dict) -> None:
    assert state["low"] < state["high"], f"the image is one flat grey: {state}"


def _watch_failures(page) -> list[str]:
    failed: list[str] = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    return failed


def test_a_link_visitor_on_a_phone_swipes_through_frames_and_drags_the_contrast(
    live_server, studies, chromium_page, tmp_path
):
    _, _, mr, token = studies
    page = chromium_page
    page.set_viewport_size(PHONE)
    failed = _watch_failures(page)

    page.goto(f"{live_server.url}/s/{token}/")
    page.click("[data-testid=open-link]")
    page.wait_for_url(f"{live_server.url}/s/")
    page.click("[data-testid=open-light-viewer]")
    page.wait_for_url(f"{live_server.url}/t/alpha/studies/{mr.StudyInstanceUID}/light/")

    first = _drawn(page)
    page.screenshot(path=str(tmp_path / "light-viewer-phone-first-frame.png"))
    _assert_not_blank(first)
    assert first["src"].endswith(f"/instances/{mr.SOPInstanceUID}/frames/1/rendered")
    assert page.title() == "Study images · Palisade"  # nothing of the patient's
    stage = page.locator("[data-testid=stage]").bounding_box()
    assert stage["width"] <= PHONE["width"] and stage["height"] > PHONE["height"] / 3

    # A swipe up goes forward.
    x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] * 0.7
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 30, steps=3)
    page.mouse.up()
    second = _drawn(page, first["src"])
    assert "/frames/2/rendered" in second["src"] or "/frames/3/rendered" in second["src"]
    _assert_not_blank(second)
    assert second["hash"] != first["hash"], "the next frame looks exactly like the first"

    page.get_by_role("button", name="Contrast", exact=True).click()
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 60, steps=4)
    page.mouse.up()
    windowed = _drawn(page, second["src"])
    page.screenshot(path=str(tmp_path / "light-viewer-phone-windowed.png"))
    assert "window=" in windowed["src"]
    assert windowed["src"].split("?")[0] == second["src"].split("?")[0]
    assert windowed["hash"] != second["hash"], "a new window drew the same pixels"
    assert not [url for url in failed if "/dicomweb/" in url or "/static/" in url], failed


def test_a_radiologist_on_a_desktop_opens_the_light_viewer_from_the_study_page(
    live_server, studies, chromium_page, tmp_path
):
    radiologist, ct, mr, _ = studies
    page = chromium_page
    page.set_viewport_size(DESKTOP)
    failed = _watch_failures(page)
    _sign_in(page, live_server, radiologist)

    page.goto(f"{live_server.url}/t/alpha/studies/{ct.StudyInstanceUID}/")
    page.click("[data-testid=open-light-viewer]")
    page.wait_for_url(f"{live_server.url}/t/alpha/studies/{ct.StudyInstanceUID}/light/")
    shown = _drawn(page)
    _assert_not_blank(shown)
    assert "window=" not in shown["src"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mv-thumb img')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=TIMEOUT_MS,
    )

    page.select_option("[data-testid=window-preset]", "bone")
    bone = _drawn(page, shown["src"])
    page.screenshot(path=str(tmp_path / "light-viewer-desktop-bone-window.png"))
    assert bone["src"].endswith("?window=300,1500,linear")
    assert bone["hash"] != shown["hash"] and bone["mean"] != shown["mean"]

    # The multi-frame MR: the wheel, the keyboard and the slider each move through its frames.
    page.goto(f"{live_server.url}/t/alpha/studies/{mr.StudyInstanceUID}/light/")
    first = _drawn(page)
    page.hover("[data-testid=stage]")
    page.mouse.wheel(0, 100)
    wheeled = _drawn(page, first["src"])
    assert "/frames/2/rendered" in wheeled["src"]
    page.focus("[data-testid=stage]")
    page.keyboard.press("ArrowDown")
    keyed = _drawn(page, wheeled["src"])
    assert "/frames/3/rendered" in keyed["src"]
    page.locator("[data-testid=image-slider]").fill("10")
    last = _drawn(page, keyed["src"])
    assert "/frames/10/rendered" in last["src"]
    assert len({first["hash"], wheeled["hash"], keyed["hash"], last["hash"]}) == 4
    page.screenshot(path=str(tmp_path / "light-viewer-desktop-last-frame.png"))
    assert page.locator("#mv-position").inner_text() == "10 / 10"
    assert not [url for url in failed if "/dicomweb/" in url or "/static/" in url], failed
