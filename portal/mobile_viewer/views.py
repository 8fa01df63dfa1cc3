"""The light viewer's page. Members of the clinic and share-link visitors alike: the policy decides, so
this view has no login_required (a `LinkVisitor` is anonymous)."""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

import audit
from accounts import policy
from audit.models import AuditAction
from imaging.models import Study
from portal.mobile_viewer.selectors import viewer_manifest
from portal.sharing import services as sharing_services
from portal.sharing.links.services import VISITOR_ACTOR_ROLE


@never_cache
@require_safe
def light_viewer(request: HttpRequest, tenant_slug: str, study_uid: str) -> HttpResponse:
    link = policy.share_link_of(request.user)
    if link is None and not request.user.is_authenticated:
        # Whether or not the clinic or study exists, as for every clinic page.
        return redirect_to_login(request.get_full_path())
    study = None
    if request.tenant is not None:
        study = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=study_uid).first()
    if study is None or not policy.can(request.user, policy.Action.VIEW_STUDY, study):
        # 404 as for a study that does not exist; audit/middleware.py records the refusal.
        raise Http404
    if link is not None:
        # audit.record names the link on the event itself.
        actor_role, back = VISITOR_ACTOR_ROLE, reverse("share-link-home")
    else:
        member = policy.membership(request.user, study.tenant)
        actor_role = member.role if member else ""
        back = reverse("study-detail", kwargs={"tenant_slug": tenant_slug, "study_uid": study_uid})
    audit.record_access(
        AuditAction.VIEW_STUDY,
        request=request,
        tenant=study.tenant,
        actor_role=actor_role,
        object_type="study",
        object_ids=[study.study_instance_uid],
    )
    # Opened: no longer "new" on a doctor's worklist (a visitor has no shares).
    sharing_services.mark_shares_seen(request.user, study)
    response = render(
        request,
        "mobile_viewer/viewer.html",
        {"study": study, "manifest": viewer_manifest(study), "back_url": back, "visitor": link is not None},
    )
    # The page's address names the study: keep it out of other sites' Referer headers.
    response["Referrer-Policy"] = "no-referrer"
    return response
