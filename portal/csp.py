"""The Content-Security-Policy of the OHIF viewer's routes, wider than the site's (settings.
CONTENT_SECURITY_POLICY) by what OHIF needs and nothing else. Found by running OHIF under the policy in
Chromium and reading its violations (tests/operations/test_csp_browser.py):

- `script-src 'wasm-unsafe-eval'`: OHIF decodes JPEG 2000, JPEG-LS, HTJ2K and JPEG lossless in
  WebAssembly; compiling WebAssembly needs this keyword, which allows WebAssembly alone, not eval().
- the two small inline scripts of OHIF's index.html (they set `window.PUBLIC_URL` and the dynamic import
  hook), allowed by their SHA-256 hashes, computed from the shell as served: nothing else inline runs.
- `worker-src 'self' blob:`: OHIF's decoders run in web workers.
- `style-src 'unsafe-inline'` on the viewer's page: OHIF's React components inject <style> elements and
  style attributes at run time. Styles only; scripts stay without 'unsafe-inline'.
- `'unsafe-eval'` for OHIF's own files, never for its page: the codecs' Emscripten bindings (embind) build
  functions with `new Function` inside the decoding worker. A dedicated worker runs under the policy its
  own script was served with, while the page's policy ignores the headers of the scripts it loads, so the
  page itself still cannot eval.

Everything else stays as on every other page: `object-src 'none'`, `frame-ancestors 'none'`,
`base-uri 'self'`, `form-action 'self'`, `default-src 'self'`.
"""

import base64
import hashlib
import re
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

# The viewer's page (index.html).
VIEWER_PAGE_UPDATE: dict[str, list[str]] = {
    "script-src": ["'wasm-unsafe-eval'"],
    "worker-src": ["'self'", "blob:"],
    "style-src": ["'unsafe-inline'"],
}
# OHIF's files: what matters is the policy of those that run as workers.
VIEWER_FILE_UPDATE: dict[str, list[str]] = {
    "script-src": ["'wasm-unsafe-eval'", "'unsafe-eval'"],
    "worker-src": ["'self'", "blob:"],
}

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions ('sha256-…') for each inline script of an HTML document."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def _with_policy(
    update: dict[str, list[str]], view: Callable[..., HttpResponse]
) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        policy = {directive: list(sources) for directive, sources in update.items()}
        if not response.streaming and response.get("Content-Type", "").startswith("text/html"):
            policy["script-src"] += inline_script_hashes(response.content)
        # django-csp's per-response update (what its csp_update decorator sets), here with the hashes.
        response._csp_update = policy
        return response

    return wrapper


def viewer_page_policy(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The viewer page's policy, with the hashes of the page's inline scripts."""
    return _with_policy(VIEWER_PAGE_UPDATE, view)


def viewer_file_policy(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The policy of OHIF's files, under which its web workers run."""
    return _with_policy(VIEWER_FILE_UPDATE, view)
