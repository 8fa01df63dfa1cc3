"""Reads for the sharing pages: a study's "who has access" panel, a doctor's worklist, a clinic's shares.

What a user may see is still decided by accounts.policy: these only gather and arrange the rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts import policy
from accounts.models import Membership, User
from accounts.roles import Role
from imaging.models import Study
from portal.models import Tenant
from portal.sharing.links.services import link_state
from portal.sharing.models import BreakGlassGrant, Share, ShareLink, StudyUserObjectPermission, active_q
from portal.sharing.services import STUDY_RIGHTS
from portal.tenancy import tenant_scope


def share_state(share: Share, now: datetime) -> str:
    if share.revoked_at is not None:
        return "revoked"
    return "active" if share.expires_at > now else "expired"


def links_for_study(study: Study) -> list[ShareLink]:
    """Every share link that includes `study`, newest first, whatever its state."""
    with tenant_scope(study.tenant):
        return list(ShareLink.objects.filter(studies=study).select_related("created_by"))


def shares_covering(study: Study, now: datetime | None = None) -> QuerySet[Share]:
    """Active shares that let someone see `study`: of the study itself or of its patient. Call inside
    the study's tenant scope."""
    return (
        Share.objects.filter(active_q(now or timezone.now()))
        .filter(Q(study=study) | Q(patient_id=study.patient_id))
        .select_related("tenant", "grantee", "granted_by", "study__patient", "patient")
    )


def shares_with(user: User, study: Study) -> list[Share]:
    """`user`'s own active shares that cover `study`: what the study page tells a doctor (by whom, until
    when, the note)."""
    if not user.is_authenticated:
        return []
    with tenant_scope(study.tenant):
        return list(shares_covering(study).filter(grantee=user))


@dataclass(frozen=True)
class ShareRow:
    share: Share
    state: str
    may_revoke: bool


@dataclass(frozen=True)
class LinkRow:
    link: ShareLink
    state: str


@dataclass(frozen=True)
class StudyRights:
    user: User
    rights: list[str]


@dataclass
class AccessPanel:
    """Who can open one study, and through what: shown to those who may share it."""

    clinic_wide: list[tuple[str, int]] = field(default_factory=list)
    patient_has_account: bool = False
    shares: list[ShareRow] = field(default_factory=list)
    study_rights: list[StudyRights] = field(default_factory=list)
    emergency: list[BreakGlassGrant] = field(default_factory=list)
    links: list[LinkRow] = field(default_factory=list)


def access_panel(user: User, study: Study) -> AccessPanel | None:
    """The "who has access" panel of `study` for `user`, or None when they may not see it: only those
    who may share the study (the clinic's sharers, its patient, a doctor given the right) see who else
    can open it."""
    if not policy.can(user, policy.Action.SHARE_STUDY, study):
        return None
    tenant = study.tenant
    now = timezone.now()
    labels = dict(Role.choices)
    counts = (
        Membership.objects.filter(
            tenant=tenant, role__in=policy.roles_seeing_every_study(), user__is_active=True
        )
        .values("role")
        .annotate(members=Count("id"))
    )
    members_by_role = {row["role"]: row["members"] for row in counts}
    with tenant_scope(tenant):
        shares = [
            ShareRow(share, "active", policy.can(user, policy.Action.REVOKE_SHARE, share))
            for share in shares_covering(study, now)
        ]
        rights: dict[int, StudyRights] = {}
        for permission in StudyUserObjectPermission.objects.filter(content_object=study).select_related(
            "user", "permission"
        ):
            rights.setdefault(permission.user_id, StudyRights(permission.user, []))
            rights[permission.user_id].rights.append(
                STUDY_RIGHTS.get(permission.permission.codename, permission.permission.codename)
            )
        emergency = list(
            BreakGlassGrant.objects.filter(study=study, expires_at__gt=now).select_related("user")
        )
    return AccessPanel(
        clinic_wide=[
            (labels[role], members_by_role[role])
            for role in policy.roles_seeing_every_study()
            if members_by_role.get(role)
        ],
        patient_has_account=study.patient.account_id is not None,
        shares=shares,
        study_rights=list(rights.values()),
        emergency=emergency,
        links=[LinkRow(link, link_state(link, now).replace("_", " ")) for link in links_for_study(study)],
    )


@dataclass(frozen=True)
class WorklistRow:
    tenant: Tenant
    study: Study
    # The share that lets the doctor see the study; None for a per-study right given by the clinic
    # or an emergency access.
    share: Share | None

    @property
    def is_new(self) -> bool:
        return self.share is not None and self.share.seen_at is None


@dataclass(frozen=True)
class WorklistEntry:
    """A study of a doctor's worklist before its page is shown: enough to sort it and to load it."""

    tenant: Tenant
    study_id: int
    share_id: int | None
    # When the share was made, or the study indexed if no share covers it.
    shared_at: datetime


def doctor_worklist(user: User) -> list[WorklistEntry]:
    """What is shared with `user` in every clinic where they are a referring doctor: each study the
    policy lets them see, with the share that covers it, most recently shared first. Only keys are read
    (no study or share objects), so that sorting 1,000 studies costs little: worklist_rows loads a page."""
    now = timezone.now()
    entries: list[WorklistEntry] = []
    memberships = Membership.objects.filter(
        user=user, role=Role.REFERRING_PHYSICIAN, tenant__is_active=True
    ).select_related("tenant")
    for member in memberships:
        tenant = member.tenant
        with tenant_scope(tenant):
            studies = list(
                policy.visible_studies(user, tenant).order_by().values_list("pk", "patient_id", "created_at")
            )
            # Oldest first, so that the newest share of a study or patient is the one kept below.
            shares = list(
                Share.objects.filter(active_q(now), grantee=user)
                .order_by("created_at", "pk")
                .values_list("pk", "study_id", "patient_id", "created_at")
            )
        by_study = {study_id: (pk, at) for pk, study_id, _, at in shares if study_id}
        by_patient = {patient_id: (pk, at) for pk, _, patient_id, at in shares if patient_id}
        for study_id, patient_id, indexed_at in studies:
            share_id, shared_at = by_study.get(study_id) or by_patient.get(patient_id) or (None, indexed_at)
            entries.append(WorklistEntry(tenant, study_id, share_id, shared_at))
    # Ties (shares made together) in a fixed order, so that each study is on exactly one page.
    entries.sort(key=lambda entry: (entry.shared_at, entry.tenant.pk, entry.study_id), reverse=True)
    return entries


def worklist_rows(user: User, entries: Iterable[WorklistEntry]) -> list[WorklistRow]:
    """The rows of one page of `user`'s worklist, in the entries' order: their studies (asked of the
    policy again, so that a share ended since the list was read drops its study) and shares, a few
    queries per clinic."""
    entries = list(entries)
    studies: dict[tuple[int, int], Study] = {}
    shares: dict[int, Share] = {}
    for tenant in {entry.tenant.pk: entry.tenant for entry in entries}.values():
        wanted = [entry for entry in entries if entry.tenant.pk == tenant.pk]
        with tenant_scope(tenant):
            for study in policy.visible_studies(user, tenant).filter(pk__in=[e.study_id for e in wanted]):
                studies[tenant.pk, study.pk] = study
            shares |= Share.objects.select_related("granted_by").in_bulk(
                [e.share_id for e in wanted if e.share_id is not None]
            )
    return [
        WorklistRow(entry.tenant, studies[key], shares.get(entry.share_id))
        for entry in entries
        if (key := (entry.tenant.pk, entry.study_id)) in studies
    ]


def clinic_doctor_emails(tenant: Tenant) -> list[str]:
    """The e-mail addresses of `tenant`'s active referring doctors, for the share form to offer."""
    return list(
        Membership.objects.filter(tenant=tenant, role=Role.REFERRING_PHYSICIAN, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


SHARE_FILTERS = {
    "active": "Active",
    "ended": "Ended",
    "all": "All",
}


def clinic_shares(tenant: Tenant, state: str = "active") -> QuerySet[Share]:
    """Every share of `tenant` in `state` (`active`, `ended` or `all`), newest first. Call inside the
    tenant's scope."""
    shares = Share.objects.select_related(
        "tenant", "grantee", "granted_by", "revoked_by", "study__patient", "patient"
    )
    now = timezone.now()
    if state == "active":
        return shares.filter(active_q(now))
    if state == "ended":
        return shares.exclude(active_q(now))
    return shares.all()


def clinic_study_rights(tenant: Tenant) -> QuerySet[StudyUserObjectPermission]:
    """The per-study rights given on `tenant`'s studies. Call inside the tenant's scope: the rights
    table has no tenant of its own, so the (scoped) studies decide which rows are the clinic's."""
    return (
        StudyUserObjectPermission.objects.filter(content_object__in=Study.objects.values("pk"))
        .select_related("user", "permission", "content_object")
        .order_by("content_object__study_date", "user__email", "permission__codename")
    )


def clinic_links(tenant: Tenant, state: str = "active") -> list[LinkRow]:
    """The share links of `tenant` in `state` (`active`: may still be opened or used; `ended`; `all`),
    newest first, with their state. Call inside the tenant's scope."""
    now = timezone.now()
    links = ShareLink.objects.select_related("created_by").annotate(study_count=Count("studies"))
    if state == "active":
        links = links.filter(active_q(now), locked_at__isnull=True)
    elif state == "ended":
        links = links.exclude(Q(active_q(now), locked_at__isnull=True))
    return [LinkRow(link, link_state(link, now).replace("_", " ")) for link in links[:500]]
