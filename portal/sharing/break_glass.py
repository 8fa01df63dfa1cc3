"""Break-the-glass: a clinician opens a study they have no right to, in an emergency, after stating a
reason (HIPAA 164.312(a)(2)(ii), emergency access procedure).

The grant lasts PALISADE_BREAK_GLASS_MINUTES and is read by accounts.policy on every request, so access
ends at its expiry. Breaking the glass is recorded in the audit trail (the grant's ID and duration; the
reason stays in the grant, where the privacy officers read it on their alerts page) and raises an alert
to them in the same transaction.

The page answers 404 to anyone who may not break the glass in the clinic, so that it tells them nothing
about which studies exist; a clinician, who may open any study of the clinic this way, is told when
nothing matches.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

import audit
from accounts import policy
from accounts.models import User
from audit.alerts.services import raise_for_event
from audit.models import AuditAction, Outcome
from imaging.models import Study
from portal.decorators import tenant_action_required
from portal.sharing.models import BreakGlassGrant

MIN_REASON_LENGTH = 20


class BreakGlassRefused(Exception):
    """The user may not break the glass on this study (they may already see it, or not be a clinician)."""


class AmbiguousStudy(Exception):
    """Several studies of the clinic have the accession number given."""


# --- Service and selectors ---------------------------------------------------------------------------------


def find_study(identifier: str) -> Study | None:
    """The study of the current clinic with this Study Instance UID, else with this accession number.
    Call inside the clinic's scope."""
    identifier = identifier.strip()
    by_uid = Study.objects.select_related("patient", "tenant").filter(study_instance_uid=identifier).first()
    if by_uid is not None:
        return by_uid
    matches = list(
        Study.objects.select_related("patient", "tenant").filter(Q(accession_number=identifier))[:2]
    )
    if len(matches) > 1:
        raise AmbiguousStudy
    return matches[0] if matches else None


def break_glass(
    user: User, study: Study, reason: str, *, request: HttpRequest | None = None, minutes: int | None = None
) -> BreakGlassGrant:
    """Grant `user` time-boxed access to `study`, record it and alert the clinic's privacy officers."""
    if not policy.can(user, policy.Action.BREAK_GLASS, study):
        raise BreakGlassRefused
    reason = reason.strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"A reason of at least {MIN_REASON_LENGTH} characters is required.")
    minutes = minutes or settings.PALISADE_BREAK_GLASS_MINUTES
    member = policy.membership(user, study.tenant)
    now = timezone.now()
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            tenant=study.tenant,
            user=user,
            study=study,
            reason=reason,
            granted_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        event = audit.record(
            AuditAction.BREAK_THE_GLASS,
            request=request,
            actor=user,
            tenant=study.tenant,
            actor_role=member.role,
            object_type="study",
            object_ids=[study.study_instance_uid],
            details={"grant": grant.pk, "minutes": minutes},
        )
        raise_for_event(event)
    return grant


def grants_by_id(grant_ids: list[int]) -> dict[int, BreakGlassGrant]:
    """Break-the-glass grants of the current clinic by ID (for its alerts page). Call in its scope."""
    if not grant_ids:
        return {}
    grants = BreakGlassGrant.objects.filter(pk__in=grant_ids).select_related("user", "study")
    return {grant.pk: grant for grant in grants}


# --- Page --------------------------------------------------------------------------------------------------


class BreakGlassForm(forms.Form):
    identifier = forms.CharField(label="Study Instance UID or accession number", max_length=64, strip=True)
    reason = forms.CharField(
        label="Reason",
        min_length=MIN_REASON_LENGTH,
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Why you need this study now, in at least {MIN_REASON_LENGTH} characters. "
        "The clinic's privacy officers read it.",
    )
    confirm = forms.BooleanField(
        label="I need this study for the care of the patient now, and I understand that this access is "
        "recorded and reported to the clinic's privacy officers."
    )


def _refuse_lookup(request: HttpRequest, why: str) -> None:
    # A clinician trying identifiers one after another is worth seeing in the trail; what they typed
    # is not kept (it may be someone else's accession number).
    audit.record(
        AuditAction.BREAK_THE_GLASS,
        request=request,
        actor_role=request.membership.role,
        outcome=Outcome.FAILURE,
        object_type="study",
        details={"refused": why},
    )


@tenant_action_required(policy.Action.BREAK_GLASS)
@require_http_methods(["GET", "POST"])
@never_cache
def break_glass_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    form = BreakGlassForm(request.POST if request.method == "POST" else None)
    minutes = settings.PALISADE_BREAK_GLASS_MINUTES
    if form.is_bound and form.is_valid():
        try:
            study = find_study(form.cleaned_data["identifier"])
        except AmbiguousStudy:
            _refuse_lookup(request, "ambiguous_accession_number")
            form.add_error(
                "identifier", "Several studies have this accession number: enter the Study Instance UID."
            )
        else:
            if study is None:
                _refuse_lookup(request, "no_matching_study")
                form.add_error(
                    "identifier", "No study of this clinic has this Study Instance UID or accession number."
                )
            elif policy.can(request.user, policy.Action.VIEW_STUDY, study):
                messages.info(request, "You may already open this study: no emergency access was needed.")
                return redirect(
                    "study-detail", tenant_slug=request.tenant.slug, study_uid=study.study_instance_uid
                )
            else:
                try:
                    grant = break_glass(request.user, study, form.cleaned_data["reason"], request=request)
                except BreakGlassRefused:
                    raise Http404 from None
                messages.warning(
                    request,
                    f"Emergency access until {grant.expires_at:%H:%M} UTC. It is recorded, and the clinic's "
                    "privacy officers have been told.",
                )
                return redirect(
                    "study-detail", tenant_slug=request.tenant.slug, study_uid=study.study_instance_uid
                )
    return render(
        request,
        "sharing/break_glass.html",
        {"tenant": request.tenant, "membership": request.membership, "form": form, "minutes": minutes},
    )
