from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from accounts import policy


def tenant_member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to sign-in; a signed-in user outside the clinic gets 404, as for a clinic
    that does not exist (DESIGN.md, Tenancy). Sets `request.membership`."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.tenant is None or not policy.can(request.user, policy.Action.ENTER_TENANT, request.tenant):
            raise Http404
        request.membership = policy.membership(request.user, request.tenant)
        return view(request, *args, **kwargs)

    return wrapper


def tenant_action_required(
    action: policy.Action,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """As `tenant_member_required`, and the member must also be allowed `action` on the clinic. A member
    who may not gets 404 as well: a page they cannot use is, to them, a page that does not exist."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @tenant_member_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not policy.can(request.user, action, request.tenant):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def private_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that no cache keeps and whose address no Referer carries elsewhere: share-link visitors'
    pages (the token), access codes, downloads. Under no-referrer a browser posts the page's forms with
    `Origin: null` and no Referer, which Django's CSRF check refuses: such views take
    portal.sharing.links.csrf's check instead (Fetch Metadata)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper
