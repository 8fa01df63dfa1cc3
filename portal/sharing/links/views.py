"""Share link pages: the sharer's (make, follow, revoke a link) under /t/<clinic>/, and the visitor's under
/s/. The visitor's pages never carry the token further than the opening page: it is swapped for the
session there, and every page of the visitor's is sent with `Referrer-Policy: no-referrer` and
`Cache-Control: no-store` (THREATS.md, Access)."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

import audit
from accounts import policy
from accounts.policy import LinkVisitor
from accounts.sessions.services import client_address
from audit.models import AuditAction, Outcome
from audit.services import DENIAL_RECORDED
from imaging.models import Study
from portal.decorators import private_page, tenant_member_required
from portal.sharing.links import codes, services, visits
from portal.sharing.links.codes import CodeRequest
from portal.sharing.links.csrf import no_referrer_csrf_protect
from portal.sharing.links.forms import NewShareLinkForm, OpenShareLinkForm
from portal.sharing.links.services import LinkState, Protection
from portal.sharing.models import ShareLink
from portal.tenancy import tenant_scope

# What a refused visitor is told, and with which status. Revoked reads exactly as unknown: the sender's
# decision is not the visitor's business, and a guessed token learns nothing. A locked link answers 410
# like an expired one: it is gone for good, nothing the visitor can do brings it back (a 429 would say
# "retry later", a 403 "other credentials would do"); only the sender can make a new link.
_NOT_FOUND = (
    404,
    "This link does not work",
    "Check that you copied all of it. A link the sender withdrew does not work either: ask them for a new "
    "one.",
)
_REFUSALS = {
    "unknown": _NOT_FOUND,
    LinkState.REVOKED: _NOT_FOUND,
    LinkState.EXPIRED: (410, "This link has expired", "Ask the sender for a new link."),
    LinkState.USED_UP: (
        410,
        "This link has been used up",
        "It was opened as many times as the sender allowed. Ask them for a new link.",
    ),
    LinkState.LOCKED: (
        410,
        "This link is locked",
        "Too many wrong answers were given for it, so it no longer opens, even with the right one. Ask the "
        "sender for a new link.",
    ),
    "throttled": (
        429,
        "Too many attempts",
        "Too many wrong links, PINs or codes came from your network. Try again in {minutes} minutes.",
    ),
    "no_link": (404, "No shared studies are open here", "Open the link you were sent to see them."),
}


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    status, title, text = _REFUSALS[reason]
    minutes = int(services.GUESS_WINDOW.total_seconds() // 60)
    response = render(
        request,
        "sharing/links/refused.html",
        # The page names no reason of its own: a revoked link's reads exactly as an unknown one's.
        {"title": title, "text": text.format(minutes=minutes), "status": status},
        status=status,
    )
    if status == 429:
        response["Retry-After"] = str(minutes * 60)
    return response


# --- The visitor ----------------------------------------------------------------------------------------


@private_page
@csrf_exempt  # for the site-wide check, which no-referrer defeats; csrf.py checks instead
@no_referrer_csrf_protect
@require_http_methods(["GET", "POST"])
def open_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link's landing page: a GET only shows it, so that a mail scanner or chat preview fetching the
    link neither spends an opening nor sends a code; the visitor's POST (with the PIN or code, if set)
    opens it."""
    if services.guesses_exhausted(client_address(request)):
        services.record_refusal(request, None, "throttled")
        return _refused(request, "throttled")
    link = services.find_link(token)
    if link is None:
        services.record_refusal(request, None, "unknown")
        return _refused(request, "unknown")
    with tenant_scope(link.tenant):
        state = services.link_state(link)
        if state != LinkState.ACTIVE:
            services.record_refusal(request, link, state)
            return _refused(request, state)
        return _landing(request, link)


def _landing(request: HttpRequest, link: ShareLink) -> HttpResponse:
    protection = services.protection_of(link)
    form = OpenShareLinkForm(protection=protection)
    if request.method == "POST" and "send_code" in request.POST and protection == Protection.EMAIL_CODE:
        sent = codes.request_email_code(link)
        notices = {
            CodeRequest.QUEUED: "A code is on its way. It may take a minute to arrive.",
            CodeRequest.TOO_SOON: "A code was sent less than a minute ago: check your mailbox, or ask again "
            "in a minute.",
            CodeRequest.UNAVAILABLE: "The code could not be sent just now. Try again in a moment.",
        }
        return _landing_page(request, link, form, notice=notices[sent])
    if request.method == "POST":
        form = OpenShareLinkForm(request.POST, protection=protection)
        if form.is_valid():
            outcome = services.open_link(link, form.cleaned_data.get("answer", ""), request=request)
            if outcome.opened:
                visits.admit_visitor(request, link)
                services.record_opening(request, link)
                return redirect("share-link-home")
            if outcome.state != LinkState.ACTIVE:
                if outcome.wrong_answer:
                    # The answer that locked the link is in the trail as SHARE_LINK_FAILED.
                    setattr(request, DENIAL_RECORDED, True)
                else:
                    services.record_refusal(request, link, outcome.state)
                return _refused(request, outcome.state)
            if outcome.no_live_code:
                form.add_error(None, "No code is waiting for this link (or it expired): ask for a new one.")
            else:
                what = "PIN" if protection == Protection.PIN else "code"
                left = outcome.attempts_left
                form.add_error(
                    "answer",
                    f"Wrong {what}. {left} more wrong answer{'s' if left != 1 else ''} will lock the link.",
                )
    return _landing_page(request, link, form)


def _landing_page(
    request: HttpRequest, link: ShareLink, form: OpenShareLinkForm, notice: str = ""
) -> HttpResponse:
    return render(
        request,
        "sharing/links/open.html",
        {
            "form": form,
            "protection": services.protection_of(link),
            "recipient": codes.masked_email(link.recipient_email) if link.requires_email_code else "",
            "notice": notice,
            "signed_in": request.user.is_authenticated,
        },
    )


@private_page
@require_safe
def link_home(request: HttpRequest) -> HttpResponse:
    """The studies of the link this browser opened, each with a button to the viewer."""
    visitor = request.user if isinstance(request.user, LinkVisitor) else None
    if visitor is None:
        services.record_refusal(request, None, "no_link")
        return _refused(request, "no_link")
    link = visitor.share_link
    tenant = link.tenant
    with tenant_scope(tenant):
        if not link.grants_access():
            state = services.link_state(link)
            services.record_refusal(request, link, state)
            return _refused(request, state)
        studies = list(policy.visible_studies(visitor, tenant).order_by("-study_date", "pk"))
        audit.record(
            AuditAction.VIEW_STUDY_LIST,
            request=request,
            tenant=tenant,
            actor_role=services.VISITOR_ACTOR_ROLE,
            object_type="study",
            object_ids=[study.study_instance_uid for study in studies],
            details={"share_link": str(link.pk)},
        )
    viewer = reverse("viewer-route", kwargs={"tenant_slug": tenant.slug, "route": "viewer"})
    return render(
        request,
        "sharing/links/home.html",
        {"link": link, "tenant": tenant, "studies": studies, "viewer_url": viewer},
    )


# --- The sharer -----------------------------------------------------------------------------------------


def _deny(request: HttpRequest, reason: str, object_type: str, object_ids: list[str]) -> None:
    audit.record(
        AuditAction.ACCESS_DENIED,
        request=request,
        actor_role=request.membership.role,
        outcome=Outcome.FAILURE,
        object_type=object_type,
        object_ids=object_ids,
        details={"reason": reason, "route": request.resolver_match.url_name, "method": request.method},
    )
    raise Http404


def _managed_link(request: HttpRequest, link_id: int) -> ShareLink:
    """The clinic's link `link_id` if the user may end it (the creator, a clinic admin, the patient whose
    studies it shares): the same people follow it. 404 for anyone else, as for no such link."""
    link = ShareLink.objects.select_related("created_by", "revoked_by", "tenant").filter(pk=link_id).first()
    if link is None:
        _deny(request, "not_found", "share_link", [str(link_id)])
    if not policy.can(request.user, policy.Action.REVOKE_SHARE, link):
        _deny(request, "not_allowed", "share_link", [str(link_id)])
    return link


@tenant_member_required
@never_cache
@require_http_methods(["GET", "POST"])
def new_link(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    study = Study.objects.select_related("patient").filter(study_instance_uid=study_uid).first()
    if study is None or not policy.can(request.user, policy.Action.SHARE_STUDY, study):
        _deny(request, "not_found" if study is None else "not_allowed", "study", [study_uid])
    form = NewShareLinkForm(
        request.POST or None, may_download=policy.can(request.user, policy.Action.DOWNLOAD_STUDY, study)
    )
    if request.method == "POST" and form.is_valid():
        try:
            link, token = services.create_link(
                study=study,
                created_by=request.user,
                request=request,
                actor_role=request.membership.role,
                expires_in=form.lifetime,
                label=form.cleaned_data["label"],
                pin=form.cleaned_data["pin"],
                recipient_email=form.cleaned_data["recipient_email"],
                allow_download=form.cleaned_data["allow_download"],
                use_limit=form.cleaned_data["use_limit"],
            )
        except services.LinkRefused as refusal:
            # The clinic's sharing policy (portal.clinic_admin): shown on the form, nothing made.
            form.add_error(None, str(refusal))
        else:
            # The only response that ever carries the token; never_cache keeps it out of caches.
            return render(
                request,
                "sharing/links/created.html",
                {
                    "tenant": request.tenant,
                    "membership": request.membership,
                    "link": link,
                    "study": study,
                    "url": request.build_absolute_uri(reverse("share-link-open", kwargs={"token": token})),
                    "protection": services.protection_of(link),
                },
            )
    links = [
        link for link in study.share_links.all() if policy.can(request.user, policy.Action.REVOKE_SHARE, link)
    ]
    return render(
        request,
        "sharing/links/new.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "study": study,
            "form": form,
            "links": [(link, services.link_state(link)) for link in links],
        },
    )


@tenant_member_required
@never_cache
@require_safe
def link_detail(request: HttpRequest, tenant_slug: str, link_id: int) -> HttpResponse:
    link = _managed_link(request, link_id)
    return render(
        request,
        "sharing/links/detail.html",
        {
            "tenant": request.tenant,
            "membership": request.membership,
            "link": link,
            "state": services.link_state(link),
            "protection": services.protection_of(link),
            "studies": list(link.studies.select_related("patient")),
            "uses": list(link.uses.all()[:500]),
        },
    )


# The clinic first: to anyone outside it, these routes answer 404 whatever the method.
@tenant_member_required
@require_POST
def revoke_link(request: HttpRequest, tenant_slug: str, link_id: int) -> HttpResponse:
    link = _managed_link(request, link_id)
    if services.revoke_link(link, by=request.user, request=request, actor_role=request.membership.role):
        messages.success(
            request, "Link revoked: it no longer opens, and whoever opened it sees nothing more."
        )
    return redirect("share-link-detail", tenant_slug=request.tenant.slug, link_id=link.pk)
