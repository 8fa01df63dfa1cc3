"""The one access decision of Palisade. Pages, REST, DICOMweb, DIMSE, downloads and the viewer all ask
here, and nothing else filters studies on its own.

Rights come from (DESIGN.md, Access):
- the member's role in the tenant (the matrix below);
- per-study object permissions granted with django-guardian (view_study, download_study, share_study);
- active shares with a member of the clinic (portal.sharing.Share), of a study or of all of a patient's;
- a patient's link to their own Patient record;
- a share link's capability, held by a visitor without an account (`LinkVisitor`);
- a time-boxed break-the-glass grant.
Grants are read from the database on every decision, never cached beyond the user object of one
request, so that an expiry or a revocation applies to the very next request.
"""

from collections.abc import Iterable
from enum import StrEnum

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, TokenScope, User
from accounts.roles import Role
from imaging.models import IngestJob, RemoteAE, Study
from portal.models import Tenant
from portal.sharing.models import BreakGlassGrant, Share, ShareLink, StudyUserObjectPermission, active_q
from portal.tenancy import tenant_scope


class Action(StrEnum):
    # On a tenant.
    ENTER_TENANT = "enter_tenant"
    STORE_INSTANCES = "store_instances"
    VIEW_INGEST_JOBS = "view_ingest_jobs"
    MANAGE_API_TOKENS = "manage_api_tokens"
    MANAGE_SHARES = "manage_shares"
    VIEW_AUDIT = "view_audit"
    # Set a clinic's alert thresholds and webhook (audit.alerts).
    MANAGE_ALERT_RULES = "manage_alert_rules"
    # Add a referring doctor to the clinic by invitation e-mail, and share every study of a patient
    # (present and future) rather than one: both reach beyond one study the sharer may share.
    INVITE_DOCTOR = "invite_doctor"
    SHARE_PATIENT = "share_patient"
    # Publish the clinic's consent texts, choose which actions need consent, record a signed paper form
    # (portal.consents).
    MANAGE_CONSENTS = "manage_consents"
    # Give a patient an access code to their images (portal.patients).
    ISSUE_ACCESS_CODE = "issue_access_code"
    # A patient's own page of who opened their studies (audit.review.access_history); staff read the
    # whole trail on the review page instead.
    VIEW_OWN_ACCESS_HISTORY = "view_own_access_history"
    # See the clinic's storage health: replication lag (the recovery point) and failed copies.
    VIEW_STORAGE_STATUS = "view_storage_status"
    # Define research projects and run their de-identified exports (imaging.research).
    MANAGE_RESEARCH = "manage_research"
    # Run the clinic: its members and their roles, its policies (MFA, sessions, passwords, retention,
    # sharing, consent), its DICOM peers, its agreements, its home region and go-live (portal.clinic_admin,
    # portal.onboarding, portal.agreements).
    MANAGE_CLINIC = "manage_clinic"
    # Place and release legal holds, request, approve and refuse erasures (imaging.retention).
    MANAGE_RETENTION = "manage_retention"
    # Read the compliance report: live evidence of the safeguards (portal.compliance).
    VIEW_COMPLIANCE = "view_compliance"
    # Read the clinic's transparency page: where its data lives, who may see it (every member).
    VIEW_TRANSPARENCY = "view_transparency"
    # On a study.
    VIEW_STUDY = "view_study"
    DOWNLOAD_STUDY = "download_study"
    SHARE_STUDY = "share_study"
    BREAK_GLASS = "break_glass"
    # Download the study de-identified (PS3.15 Annex E), for teaching or a colleague's research; the
    # patient's research consent is checked by the caller (portal.consents), not here.
    DOWNLOAD_DEIDENTIFIED = "download_deidentified"
    # See the patient's consents on the study page (portal.consents): the clinic's staff who see every
    # study, and the patient whose study it is; referring doctors, billing and the auditor do not.
    VIEW_CONSENTS = "view_consents"
    # On a share or a share link.
    REVOKE_SHARE = "revoke_share"


# The role-permission matrix. Roles that see every study of their clinic, images included; billing
# sees the list but not the images; the auditor sees the audit trail, not the studies.
_CLINIC_WIDE_VIEWERS = {Role.TENANT_ADMIN, Role.RADIOLOGIST, Role.TECHNOLOGIST}
_CLINIC_WIDE_LISTERS = _CLINIC_WIDE_VIEWERS | {Role.BILLING}
_CLINIC_WIDE_DOWNLOADERS = _CLINIC_WIDE_VIEWERS
# Who may share any study of the clinic with a doctor or by link.
_CLINIC_WIDE_SHARERS = {Role.TENANT_ADMIN, Role.RADIOLOGIST}
# Who may put studies into the clinic (upload, STOW-RS, import) and follow their ingestion.
_STORERS = {Role.TENANT_ADMIN, Role.TECHNOLOGIST, Role.RADIOLOGIST}
# Who administers the clinic: its members' API tokens, every share and link, the `admin` token scope.
_CLINIC_ADMINS = {Role.TENANT_ADMIN}
_AUDIT_READERS = {Role.TENANT_ADMIN, Role.AUDITOR}
# Who may define research projects, export de-identified studies, and download one de-identified.
_RESEARCH_MANAGERS = {Role.TENANT_ADMIN, Role.RADIOLOGIST}
# Clinicians who may break the glass on a study they have no right to see.
_CLINICIANS = {Role.TENANT_ADMIN, Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.REFERRING_PHYSICIAN}

# django-guardian codenames (imaging.Study Meta permissions) for the study actions they grant.
_GUARDIAN_CODENAMES = {
    Action.VIEW_STUDY: "view_study",
    Action.DOWNLOAD_STUDY: "download_study",
    Action.SHARE_STUDY: "share_study",
}


class LinkVisitor(AnonymousUser):
    """Whoever opened a share link (portal.sharing): anonymous everywhere, except that the policy lets
    them see the link's studies while the link lasts."""

    def __init__(self, link: ShareLink) -> None:
        self.share_link = link


def share_link_of(user: User | AnonymousUser) -> ShareLink | None:
    return user.share_link if isinstance(user, LinkVisitor) else None


def membership(user: User | AnonymousUser, tenant: Tenant | None) -> Membership | None:
    if tenant is None or not user.is_authenticated or not user.is_active:
        return None
    cache = _memberships_of(user)
    if tenant.pk not in cache:
        cache[tenant.pk] = (
            Membership.objects.filter(user=user, tenant=tenant).select_related("tenant").first()
        )
    return cache[tenant.pk]


def remember_membership(user: User, tenant: Tenant, member: Membership | None) -> None:
    """Give `membership` the row (or its absence) read along with `user` in the same query, such as an
    API token's lookup (accounts.tokens), instead of a query of its own."""
    _memberships_of(user)[tenant.pk] = member


def _memberships_of(user: User) -> dict[int, Membership | None]:
    # Remembered on the user object, which lives for one request or task, so that deciding for every
    # row of a list costs one query, while a change of role applies from the next request on.
    return user.__dict__.setdefault("_palisade_memberships", {})


def _granted_studies_q(user: User, tenant: Tenant, codename: str) -> Q:
    """Studies granted to `user` for `codename`: guardian permissions, and for viewing also active
    shares and break-the-glass grants; downloads also through shares that allow them."""
    with tenant_scope(tenant):
        return _granted_in_scope(user, codename)


def _granted_in_scope(user: User, codename: str) -> Q:
    now = timezone.now()
    shares = Share.objects.filter(active_q(now), grantee=user)
    if codename == "download_study":
        shares = shares.filter(allow_download=True)
    granted = Q(
        pk__in=StudyUserObjectPermission.objects.filter(user=user, permission__codename=codename).values(
            "content_object"
        )
    )
    if codename == "share_study":
        return granted
    granted |= Q(pk__in=shares.filter(study__isnull=False).values("study"))
    granted |= Q(patient__in=shares.filter(patient__isnull=False).values("patient"))
    if codename == "view_study":
        granted |= Q(pk__in=BreakGlassGrant.objects.filter(user=user, expires_at__gt=now).values("study"))
    return granted


def _link_studies_q(link: ShareLink, tenant: Tenant) -> Q | None:
    """The studies of a share link while it grants access, read afresh: None once it has ended."""
    if link.tenant_id != tenant.pk:
        return None
    with tenant_scope(tenant):
        if (
            not ShareLink.objects.filter(pk=link.pk)
            .filter(active_q(timezone.now()), locked_at__isnull=True)
            .exists()
        ):
            return None
    return Q(pk__in=ShareLink.studies.through.objects.filter(sharelink=link).values("study"))


def _study_matches(study: Study, condition: Q) -> bool:
    with tenant_scope(study.tenant):
        return Study.objects.filter(condition, pk=study.pk).exists()


def visible_studies(user: User | AnonymousUser, tenant: Tenant) -> QuerySet[Study]:
    """Studies of `tenant` that `user` may see in study lists: those they may open, and for billing
    every study of the clinic. Call inside the tenant's scope."""
    member = membership(user, tenant)
    if member is not None and member.role in _CLINIC_WIDE_LISTERS:
        return Study.objects.select_related("patient").all()
    return openable_studies(user, tenant)


def openable_studies(user: User | AnonymousUser, tenant: Tenant) -> QuerySet[Study]:
    """Studies of `tenant` that `user` may open (VIEW_STUDY): their series, instances and images.
    Searches below the study level start here. Call inside the tenant's scope."""
    studies = Study.objects.select_related("patient")
    link = share_link_of(user)
    if link is not None:
        link_q = _link_studies_q(link, tenant)
        return studies.none() if link_q is None else studies.filter(link_q)
    member = membership(user, tenant)
    if member is None:
        return studies.none()
    if member.role in _CLINIC_WIDE_VIEWERS:
        return studies.all()
    if member.role == Role.PATIENT:
        return studies.filter(patient__account=user)
    if member.role == Role.REFERRING_PHYSICIAN:
        return studies.filter(_granted_studies_q(user, tenant, "view_study"))
    return studies.none()


def openable_ids(user: User | AnonymousUser, tenant: Tenant, studies: Iterable[Study]) -> set[int]:
    """The pks of those of `studies` (of `tenant`) that `user` may open: `can(user, VIEW_STUDY, study)`
    for each, in one query for the whole list where `can` may cost one per study (a referring doctor's,
    a share link's). Call inside the tenant's scope."""
    wanted = [study.pk for study in studies]
    return set(openable_studies(user, tenant).filter(pk__in=wanted).values_list("pk", flat=True))


def visible_ingest_jobs(user: User, tenant: Tenant) -> QuerySet[IngestJob]:
    """Ingest jobs of `tenant` that `user` may follow: every one for those who follow the clinic's
    ingestion, else only their own uploads. Call inside the tenant's scope."""
    jobs = IngestJob.objects.select_related("submitted_by")
    if can(user, Action.VIEW_INGEST_JOBS, tenant):
        return jobs.all()
    if can(user, Action.STORE_INSTANCES, tenant):
        return jobs.filter(submitted_by=user)
    return jobs.none()


def _can_on_tenant(user: User | AnonymousUser, action: Action, tenant: Tenant) -> bool:
    if action == Action.ENTER_TENANT:
        link = share_link_of(user)
        if link is not None:
            return _link_studies_q(link, tenant) is not None
        return membership(user, tenant) is not None
    member = membership(user, tenant)
    if member is None:
        return False
    if action in (Action.STORE_INSTANCES, Action.VIEW_INGEST_JOBS):
        return member.role in _STORERS
    if action in (Action.MANAGE_API_TOKENS, Action.MANAGE_SHARES):
        return member.role in _CLINIC_ADMINS
    if action == Action.VIEW_AUDIT:
        return member.role in _AUDIT_READERS
    if action in (Action.INVITE_DOCTOR, Action.SHARE_PATIENT):
        return member.role in _CLINIC_WIDE_SHARERS
    if action == Action.MANAGE_ALERT_RULES:
        return member.role in _CLINIC_ADMINS
    if action == Action.MANAGE_CONSENTS:
        return member.role in _CLINIC_ADMINS
    if action == Action.ISSUE_ACCESS_CODE:
        return member.role in _CLINIC_WIDE_VIEWERS
    if action == Action.VIEW_OWN_ACCESS_HISTORY:
        return member.role == Role.PATIENT
    if action == Action.VIEW_STORAGE_STATUS:
        return member.role in _CLINIC_ADMINS
    if action == Action.MANAGE_RESEARCH:
        return member.role in _RESEARCH_MANAGERS
    if action in (Action.MANAGE_CLINIC, Action.MANAGE_RETENTION):
        return member.role in _CLINIC_ADMINS
    if action == Action.VIEW_COMPLIANCE:
        return member.role in _AUDIT_READERS
    if action == Action.VIEW_TRANSPARENCY:
        return True
    if action == Action.BREAK_GLASS:
        # On the clinic: whether the member may ask for emergency access at all (the break-the-glass
        # page, portal.sharing.break_glass); on a study, whether they may for that study. Clinicians who
        # see every study of the clinic have no glass to break.
        return member.role in _CLINICIANS - _CLINIC_WIDE_VIEWERS
    raise ValueError(f"{action!r} is not an action on a clinic")


def _can_on_study(user: User | AnonymousUser, action: Action, study: Study) -> bool:
    link = share_link_of(user)
    if link is not None:
        if action not in (Action.VIEW_STUDY, Action.DOWNLOAD_STUDY):
            return False
        link_q = _link_studies_q(link, study.tenant)
        if link_q is None or not _study_matches(study, link_q):
            return False
        return action == Action.VIEW_STUDY or link.allow_download
    member = membership(user, study.tenant)
    if member is None:
        return False
    if action == Action.BREAK_GLASS:
        return member.role in _CLINICIANS and not _can_on_study(user, Action.VIEW_STUDY, study)
    if action == Action.DOWNLOAD_DEIDENTIFIED:
        return member.role in _RESEARCH_MANAGERS
    if action == Action.VIEW_CONSENTS:
        if member.role == Role.PATIENT:
            return study.patient.account_id == user.pk
        return member.role in _CLINIC_WIDE_VIEWERS
    role_allows = {
        Action.VIEW_STUDY: _CLINIC_WIDE_VIEWERS,
        Action.DOWNLOAD_STUDY: _CLINIC_WIDE_DOWNLOADERS,
        Action.SHARE_STUDY: _CLINIC_WIDE_SHARERS,
    }[action]
    if member.role in role_allows:
        return True
    if member.role == Role.PATIENT:
        # A patient sees, downloads and shares (by link, for a second opinion) their own studies.
        return study.patient.account_id == user.pk
    if member.role == Role.REFERRING_PHYSICIAN:
        return _study_matches(study, _granted_studies_q(user, study.tenant, _GUARDIAN_CODENAMES[action]))
    return False


def _can_revoke(user: User | AnonymousUser, grant: Share | ShareLink) -> bool:
    member = membership(user, grant.tenant)
    if member is None:
        return False
    if member.role in _CLINIC_ADMINS:
        return True
    sharer = grant.granted_by_id if isinstance(grant, Share) else grant.created_by_id
    if sharer == user.pk:
        return True
    if member.role != Role.PATIENT:
        return False
    # The patient whose studies are shared may end the share.
    if isinstance(grant, Share):
        patient = grant.patient if grant.patient_id else grant.study.patient
        return patient.account_id == user.pk
    with tenant_scope(grant.tenant):
        studies = grant.studies.all()
        return studies.exists() and not studies.exclude(patient__account=user).exists()


def can(user: User | AnonymousUser, action: Action, obj: Tenant | Study | Share | ShareLink) -> bool:
    """Whether `user` (a signed-in user, an anonymous caller or a share link's visitor) may do
    `action` on `obj`: a clinic, a study, or a share or share link for REVOKE_SHARE."""
    if isinstance(obj, Tenant):
        return _can_on_tenant(user, action, obj)
    if isinstance(obj, Study):
        if action not in (
            Action.VIEW_STUDY,
            Action.DOWNLOAD_STUDY,
            Action.SHARE_STUDY,
            Action.BREAK_GLASS,
            Action.DOWNLOAD_DEIDENTIFIED,
            Action.VIEW_CONSENTS,
        ):
            raise ValueError(f"{action!r} is not an action on a study")
        return _can_on_study(user, action, obj)
    if isinstance(obj, Share | ShareLink):
        if action != Action.REVOKE_SHARE:
            raise ValueError(f"{action!r} is not an action on a share")
        return _can_revoke(user, obj)
    raise TypeError(f"No policy for {type(obj).__name__}")


def roles_seeing_every_study() -> list[Role]:
    """Roles whose members open every study of their clinic, for a study's "who has access" panel."""
    return [role for role in Role if role in _CLINIC_WIDE_VIEWERS]


def grantable_token_scopes(user: User, tenant: Tenant) -> list[TokenScope]:
    """Scopes `user` may give an API token of `tenant`: reads to every member, writes to those who may
    store, clinic administration to its admins. A scope only narrows a token: each request made with
    it is still decided by `can` for the token's user, at that moment."""
    member = membership(user, tenant)
    if member is None:
        return []
    scopes = [TokenScope.API_READ, TokenScope.DICOMWEB_READ]
    if member.role in _STORERS:
        scopes += [TokenScope.API_WRITE, TokenScope.DICOMWEB_WRITE]
    if member.role in _CLINIC_ADMINS:
        scopes.append(TokenScope.ADMIN)
    return scopes


def remote_ae_may_store(remote_ae: RemoteAE) -> bool:
    """A DIMSE peer of a clinic (imaging.dimse) may send it instances (C-STORE) while its registration
    is active and allows storing. Read the registration afresh for each store: a change applies to
    the next instance, not the next association."""
    return remote_ae.is_active and remote_ae.may_store


def remote_ae_may_query(remote_ae: RemoteAE) -> bool:
    """A DIMSE peer may search its clinic's index (C-FIND) while its registration is active and allows
    querying. Read the registration afresh for each request, as for storing."""
    return remote_ae.is_active and remote_ae.may_query


def remote_ae_may_retrieve(remote_ae: RemoteAE) -> bool:
    """A DIMSE peer may have its clinic's instances sent to itself (C-GET) or to a destination
    (C-MOVE) while its registration is active and allows retrieving."""
    return remote_ae.is_active and remote_ae.may_retrieve


def remote_ae_visible_studies(remote_ae: RemoteAE) -> QuerySet[Study]:
    """Studies of its clinic that a DIMSE peer may find or retrieve, once allowed to query or retrieve:
    every one, as for the clinic's own staff (a PACS or workstation of the clinic). Call inside the
    clinic's scope."""
    studies = Study.objects.select_related("patient")
    return studies.all() if remote_ae.is_active else studies.none()


def may_be_move_destination(remote_ae: RemoteAE) -> bool:
    """Where C-MOVE may send a clinic's instances: only to a peer the clinic registered, active, with
    the address and port of its listener. The requester names the destination, so nothing it says
    about a destination's address is ever used."""
    return remote_ae.is_active and bool(remote_ae.host) and remote_ae.port is not None


def role_capabilities() -> dict[Role, list[str]]:
    """What each role may do in its clinic, in words, read from the role sets above, for the clinic's
    transparency page (portal.compliance): it changes when the matrix does, never typed elsewhere."""
    capabilities: dict[Role, list[str]] = {}
    for role in Role:
        said = []
        if role in _CLINIC_WIDE_VIEWERS:
            said.append("opens every study of the clinic, images included")
        elif role in _CLINIC_WIDE_LISTERS:
            said.append("sees the list of studies, without images or clinical content")
        elif role == Role.REFERRING_PHYSICIAN:
            said.append("opens only the studies shared with them, until the share ends")
        elif role == Role.PATIENT:
            said.append("opens, downloads and shares by link their own studies")
        if role in _STORERS:
            said.append("adds studies")
        if role in _CLINIC_WIDE_SHARERS:
            said.append("shares studies with doctors")
        if role in _RESEARCH_MANAGERS:
            said.append("exports studies for research, de-identified and with the patient's consent")
        if role in _CLINICIANS - _CLINIC_WIDE_VIEWERS:
            said.append("may open another study in an emergency, which always raises an alert")
        if role in _AUDIT_READERS:
            said.append("reads the audit trail and the compliance report")
        if role in _CLINIC_ADMINS:
            said.append("administers the clinic: members, roles, policies and agreements")
        capabilities[role] = said
    return capabilities
