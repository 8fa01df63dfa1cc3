"""The Content-Security-Policy holds on the main pages in a real browser: headless Chromium visits them
signed in as a clinic admin (and the sign-in pages signed out) and fails on any CSP violation, whether
Chromium reports it as a `securitypolicyviolation` event or on its console. The OHIF viewer gets its own,
wider policy (portal/csp.py); the same listener watches it draw a JPEG 2000 image, decoded in
WebAssembly.

Data is made in fixtures before `chromium_page`: Playwright's sync API runs an event loop in the test's
thread, where Django refuses ORM calls.
"""

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.roles import Role
from tests.dicomweb.wado import ingest_sample
from tests.factories import MembershipFactory, TenantFactory
from tests.mfa import enter_code_in_browser, give_authenticator_app
from tests.viewer import require_installed_viewer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
VIEWER_TIMEOUT_MS = 90_000
# Every violation is recorded in the page itself, from the first script on (Playwright's init scripts
# run before the page's own, whatever its policy).
LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def clinic(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    admin = MembershipFactory(tenant=tenant, role=Role.TENANT_ADMIN).user
    give_authenticator_app(admin)
    dataset = ingest_sample(tenant, "MR_small_jp2klossless.dcm")
    return tenant, admin, dataset


class Violations:
    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(LISTENER)
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and self.console.append(message.text),
        )

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status < 400, (url, response and response.status)
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, url
        if "/viewer/" not in url:
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, url
        assert response.headers.get("cross-origin-opener-policy") == "same-origin", url
        self.page.wait_for_load_state("load")
        self.assert_none(url)

    def assert_none(self, where: str) -> None:
        found = self.page.evaluate("window.__cspViolations || []") + self.console
        assert not found, f"CSP violations on {where}: {found}"


def _optional(name: str, **kwargs) -> list[str]:
    """Pages of other parts of issue 11 that may not be installed yet."""
    try:
        return [reverse(name, kwargs=kwargs)]
    except NoReverseMatch:
        return []


def test_the_main_pages_raise_no_csp_violation(live_server, clinic, chromium_page, tmp_path):
    tenant, admin, dataset = clinic
    page = chromium_page
    watch = Violations(page)
    base = live_server.url

    watch.visit(f"{base}/accounts/login/")
    watch.visit(f"{base}/accounts/password_reset/")
    for path in _optional("clinic-request"):
        watch.visit(base + path)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{base}/t/alpha/")
    watch.assert_none("the second-factor page")

    slug = {"tenant_slug": tenant.slug}
    pages = [
        reverse("clinic-dashboard", kwargs=slug),
        reverse("study-detail", kwargs={**slug, "study_uid": dataset.StudyInstanceUID}),
        reverse("upload", kwargs=slug),
        reverse("ingest-jobs", kwargs=slug),
        reverse("audit-review", kwargs=slug),
        reverse("alerts", kwargs=slug),
        reverse("mfa:security"),
        reverse("mfa:add-totp"),
        reverse("mfa:add-passkey"),
        reverse("sessions"),
        reverse("api-tokens"),
        reverse("password_change"),
        *_optional("compliance-report", **slug),
        *_optional("transparency", **slug),
        *_optional("agreements", **slug),
        *_optional("clinic-settings", **slug),
        *_optional("clinic-members", **slug),
        *_optional("dicom-peers", **slug),
        *_optional("onboarding-checklist", **slug),
    ]
    for path in pages:
        watch.visit(base + path)
    page.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)


def test_the_detector_sees_an_inline_style(live_server, clinic, chromium_page):
    """The listener is not blind: an inline style attribute set on a served page is reported."""
    page = chromium_page
    watch = Violations(page)
    watch.visit(f"{live_server.url}/accounts/login/")

    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__cspViolations.length > 0", timeout=5_000)

    with pytest.raises(AssertionError, match="style-src"):
        watch.assert_none("the sign-in page")


def test_ohif_draws_a_jpeg2000_image_under_its_policy(live_server, clinic, chromium_page, tmp_path):
    require_installed_viewer()
    _, admin, dataset = clinic
    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 800})
    watch = Violations(page)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    enter_code_in_browser(page)
    page.wait_for_url(f"{live_server.url}/t/alpha/")

    response = page.goto(
        f"{live_server.url}/viewer/t/alpha/viewer?StudyInstanceUIDs={dataset.StudyInstanceUID}"
    )
    assert response.headers.get("cross-origin-embedder-policy") == "require-corp"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")
    try:
        _wait_for_a_drawn_viewport(page)
    finally:
        page.screenshot(path=str(tmp_path / "ohif-jpeg2000.png"))
        watch.assert_none("the OHIF viewer")  # a violation is the likelier reason for a blank viewport
    assert page.evaluate("window.crossOriginIsolated") is True


def _wait_for_a_drawn_viewport(page) -> None:
    page.wait_for_function(
        """() => {
            const canvas = document.querySelector('.cornerstone-canvas, [data-viewport-uid] canvas');
            if (!canvas || canvas.width === 0) return false;
            const probe = document.createElement('canvas');
            probe.width = canvas.width; probe.height = canvas.height;
            const context = probe.getContext('2d');
            context.drawImage(canvas, 0, 0);
            const pixels = context.getImageData(0, 0, probe.width, probe.height).data;
            for (let i = 4; i < pixels.length; i += 4) {
                if (pixels[i] !== pixels[0]) return true;
            }
            return false;
        }""",
        timeout=VIEWER_TIMEOUT_MS,
        polling=500,
    )
