"""Long lists in pages (issue 8): a page of 50 rows renders well under 300 ms where a list of 1,000
took over half a second, and every row stays reachable through the page links of
templates/portal/_pager.html."""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

PER_PAGE = 50


@dataclass(frozen=True)
class Paged:
    page: Page
    # The query parameter that names the page, and the page's other parameters (a filter, another
    # list's page) with "&" after them, so that following a page link keeps them.
    param: str
    query: str


def paged(request: HttpRequest, items, param: str = "page") -> Paged:
    """The page of `items` (a sequence or an ordered queryset) that `request` asks for in `param`; the
    first for a missing or malformed number, the last past the end. Call inside the tenant scope of
    `items`."""
    page = Paginator(items, PER_PAGE).get_page(request.GET.get(param))
    # Read now, inside the caller's tenant scope (django-scopes refuses a query outside it).
    page.object_list = list(page.object_list)
    others = request.GET.copy()
    others.pop(param, None)
    query = others.urlencode()
    return Paged(page=page, param=param, query=f"{query}&" if query else "")
