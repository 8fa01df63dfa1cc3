"""The one access decision of Palisade. Pages, REST, DICOMweb and DIMSE all ask here.

Rights come from the member's role in the tenant; later issues add per-study grants, shares,
share links and break-the-glass here, and nowhere else.
"""

from enum import StrEnum

from django.db.models import QuerySet

from accounts.models import Membership, TokenScope, User
from accounts.roles import Role
from imaging.models import IngestJob, RemoteAE, Study
from portal.models import Tenant


class Action(StrEnum):
    ENTER_TENANT = "enter_tenant"
    VIEW_STUDY = "view_study"
    STORE_INSTANCES = "store_instances"
    VIEW_INGEST_JOBS = "view_ingest_jobs"
    MANAGE_API_TOKENS = "manage_api_tokens"


# Roles that see every study of their clinic; billing sees the list but not the images.
_CLINIC_WIDE_VIEWERS = {Role.TENANT_ADMIN, Role.RADIOLOGIST, Role.TECHNOLOGIST}
_CLINIC_WIDE_LISTERS = _CLINIC_WIDE_VIEWERS | {Role.BILLING}
# Who may put studies into the clinic (upload, STOW-RS, import) and follow their ingestion.
_STORERS = {Role.TENANT_ADMIN, Role.TECHNOLOGIST, Role.RADIOLOGIST}
# Who administers the clinic: its members' API tokens, and the `admin` token scope.
_CLINIC_ADMINS = {Role.TENANT_ADMIN}


def membership(user: User, tenant: Tenant | None) -> Membership | None:
    if tenant is None or not user.is_authenticated or not user.is_active:
        return None
    # Remembered on the user object, which lives for one request or task, so that deciding for every
    # row of a list costs one query, while a change of role applies from the next request on.
    cache = user.__dict__.setdefault("_palisade_memberships", {})
    if tenant.pk not in cache:
        cache[tenant.pk] = (
            Membership.objects.filter(user=user, tenant=tenant).select_related("tenant").first()
        )
    return cache[tenant.pk]


def visible_studies(user: User, tenant: Tenant) -> QuerySet[Study]:
    """Studies of `tenant` that `user` may see in lists. Call inside the tenant's scope."""
    member = membership(user, tenant)
    studies = Study.objects.select_related("patient")
    if member is None:
        return studies.none()
    if member.role in _CLINIC_WIDE_LISTERS:
        return studies.all()
    if member.role == Role.PATIENT:
        return studies.filter(patient__account=user)
    return studies.none()


def visible_ingest_jobs(user: User, tenant: Tenant) -> QuerySet[IngestJob]:
    """Ingest jobs of `tenant` that `user` may follow: every one for those who follow the clinic's
    ingestion, else only their own uploads. Call inside the tenant's scope."""
    jobs = IngestJob.objects.select_related("submitted_by")
    if can(user, Action.VIEW_INGEST_JOBS, tenant):
        return jobs.all()
    if can(user, Action.STORE_INSTANCES, tenant):
        return jobs.filter(submitted_by=user)
    return jobs.none()


def can(user: User, action: Action, obj: Tenant | Study) -> bool:
    """VIEW_STUDY takes a study; every other action a tenant."""
    if action == Action.ENTER_TENANT:
        return membership(user, obj) is not None
    if action in (Action.STORE_INSTANCES, Action.VIEW_INGEST_JOBS):
        member = membership(user, obj)
        return member is not None and member.role in _STORERS
    if action == Action.MANAGE_API_TOKENS:
        member = membership(user, obj)
        return member is not None and member.role in _CLINIC_ADMINS
    if action == Action.VIEW_STUDY:
        member = membership(user, obj.tenant)
        if member is None:
            return False
        if member.role in _CLINIC_WIDE_VIEWERS:
            return True
        return member.role == Role.PATIENT and obj.patient.account_id == user.pk
    raise ValueError(f"Unknown action {action!r}")


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
