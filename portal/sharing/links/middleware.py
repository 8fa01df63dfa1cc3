"""Makes the anonymous session that opened a share link a `LinkVisitor` on every request."""

from django.http import HttpRequest, HttpResponse

from portal.sharing.links.visits import visitor_for


class ShareLinkVisitorMiddleware:
    """After AuthenticationMiddleware (and django-otp's): an anonymous request whose session opened a link
    gets `request.user = LinkVisitor(link)`, the link read from the database for this request. Signed-in
    users are left alone: opening a link signs them out first (visits.admit_visitor)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        visitor = visitor_for(request)
        if visitor is not None:
            request.user = visitor

            async def auser():
                return visitor

            request.auser = auser
        return self.get_response(request)
