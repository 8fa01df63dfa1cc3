"""The OHIF viewer, same-origin at /viewer/ (docs/viewer.md).

- /viewer/t/<clinic>/… is OHIF's app shell (index.html) for every client-side route under its router base,
  for members of the clinic only (404 otherwise, as for a clinic that does not exist);
- /viewer/t/<clinic>/app-config.js is that clinic's configuration (imaging.viewer.config);
- /viewer/<file> are OHIF's own files, the same for every clinic.

A share link's visitor (portal/sharing/links) opens the viewer of the link's clinic too, while the link
lasts; what OHIF then finds through DICOMweb is the link's studies alone.

OHIF reads DICOM through the clinic's DICOMweb base with the session cookie: every study it shows is
decided, and audited, by the DICOMweb views. Every response here carries the cross-origin isolation
headers OHIF needs for SharedArrayBuffer (its 3D views and multi-threaded decoding).
"""

import logging
import mimetypes
from collections.abc import Callable
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect
from django.urls import reverse
from django.utils._os import safe_join
from django.utils.html import escape
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since

from accounts import policy
from imaging.viewer.config import app_config_script
from imaging.viewer.install import APP_CONFIG_PLACEHOLDER, MARKER
from portal.csp import viewer_file_policy, viewer_page_policy
from portal.decorators import tenant_member_required

logger = logging.getLogger(__name__)

# Python's table lacks some of what OHIF ships; WebAssembly must be application/wasm to compile streaming.
_CONTENT_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".jsonc": "application/json"}
# Files not meant to be fetched: the raw shell (served by viewer_shell) and the install marker.
_NOT_SERVED = {"index.html", MARKER}


def cross_origin_isolated(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """COOP same-origin with COEP require-corp make the page cross-origin isolated (SharedArrayBuffer);
    CORP same-origin lets isolated pages load these files and no other origin embed them."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = "same-origin"
        response["Cross-Origin-Embedder-Policy"] = "require-corp"
        response["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    return wrapper


def _is_link_visitor(request: HttpRequest) -> bool:
    return isinstance(request.user, policy.LinkVisitor)


def clinic_viewer_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Members of the clinic (portal.decorators.tenant_member_required), and the visitor of a share link
    of the clinic while it lasts; 404 for any other visitor, as for a clinic that does not exist."""
    for_members = tenant_member_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not _is_link_visitor(request):
            return for_members(request, *args, **kwargs)
        if request.tenant is None or not policy.can(request.user, policy.Action.ENTER_TENANT, request.tenant):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def signed_in_or_link_visitor(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """login_required, letting a share link's visitor through too (OHIF's files hold no clinic's data)."""
    for_users = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return (view if _is_link_visitor(request) else for_users)(request, *args, **kwargs)

    return wrapper


def _viewer_dir() -> Path:
    return settings.PALISADE_VIEWER_DIR


def _not_installed() -> HttpResponse:
    logger.error("The OHIF viewer is not installed in %s: run `manage.py install_viewer`.", _viewer_dir())
    return HttpResponse(
        "The viewer is not installed on this server.", status=503, content_type="text/plain; charset=utf-8"
    )


@cross_origin_isolated
@require_safe
@signed_in_or_link_visitor
def viewer_home(request: HttpRequest) -> HttpResponse:
    """/viewer/: a member of one clinic goes to its viewer; anyone else picks a clinic on the home page, and
    a share link's visitor goes back to the link's studies."""
    if _is_link_visitor(request):
        return redirect("share-link-home")
    memberships = list(request.user.memberships.select_related("tenant").filter(tenant__is_active=True)[:2])
    if len(memberships) == 1:
        return redirect("viewer", tenant_slug=memberships[0].tenant.slug)
    return redirect("home")


@viewer_page_policy
@cross_origin_isolated
@require_safe
@never_cache
@clinic_viewer_access
def viewer_shell(request: HttpRequest, tenant_slug: str, route: str = "") -> HttpResponse:
    """OHIF's index.html for any client-side route, loading the clinic's app-config.js."""
    try:
        shell = (_viewer_dir() / "index.html").read_text(encoding="utf-8")
    except FileNotFoundError:
        return _not_installed()
    config_url = reverse("viewer-config", kwargs={"tenant_slug": request.tenant.slug})
    return HttpResponse(shell.replace(APP_CONFIG_PLACEHOLDER, escape(config_url)))


@cross_origin_isolated
@require_safe
@never_cache
@clinic_viewer_access
def viewer_config(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return HttpResponse(
        app_config_script(request, request.tenant), content_type="text/javascript; charset=utf-8"
    )


# OHIF's web workers are files from here: a worker runs under the policy its own script is served with.
@viewer_file_policy
@cross_origin_isolated
@require_safe
@signed_in_or_link_visitor
def viewer_file(request: HttpRequest, path: str) -> HttpResponse:
    """One of OHIF's files (bundles, WebAssembly, fonts, images), revalidated by Last-Modified: their
    content changes only when the viewer is reinstalled."""
    if not (_viewer_dir() / MARKER).is_file():
        return _not_installed()
    try:
        file = Path(safe_join(_viewer_dir(), path))
    except SuspiciousFileOperation:
        raise Http404 from None
    if path in _NOT_SERVED or not file.is_file():
        raise Http404
    modified = file.stat().st_mtime
    if not was_modified_since(request.headers.get("If-Modified-Since"), int(modified)):
        return HttpResponseNotModified()
    content_type = (
        _CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    )
    response = FileResponse(file.open("rb"), content_type=content_type)
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = "private, no-cache"
    return response
