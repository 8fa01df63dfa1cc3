"""CSRF protection for the share link's landing page, which is served with `Referrer-Policy: no-referrer`.

Under that policy a browser submits the page's forms with `Origin: null` and no Referer (Fetch standard,
"serializing a request origin"), and Django's CSRF check refuses both: the Origin does not match, and an
HTTPS request without Origin must carry a matching Referer. Relaxing the policy would put the token in
the Referer of the POST (and in the access logs that record it), which is what no-referrer is there to
prevent. So these two headers are replaced here by the browser's Fetch Metadata: `Sec-Fetch-Site:
same-origin` says the form was submitted from a page of this site, and no page can set or forge it. The
CSRF token itself (cookie and form field) is checked exactly as everywhere else.

This overrides two private methods of Django's CsrfViewMiddleware (stable since Django 4.0); the tests
in tests/test_share_links.py pin the behaviour, so a Django upgrade that changes them fails loudly.
"""

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import decorator_from_middleware


def _submitted_from_this_site(request: HttpRequest) -> bool:
    return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"


class NoReferrerCsrfViewMiddleware(CsrfViewMiddleware):
    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null" and _submitted_from_this_site(request):
            return True
        return super()._origin_verified(request)

    def _check_referer(self, request: HttpRequest) -> None:
        if "HTTP_REFERER" not in request.META and _submitted_from_this_site(request):
            return
        super()._check_referer(request)


# Use with django.views.decorators.csrf.csrf_exempt outside it, so that the site-wide check stands aside.
no_referrer_csrf_protect = decorator_from_middleware(NoReferrerCsrfViewMiddleware)
