"""Sharing studies with doctors: every change to a share or a per-study right, each audited.

Views, the platform admin and tests call these plain functions; none of them caches anything, because
accounts.policy reads the grants afresh on every request, so that a revocation applies to the next one.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm
from kombu.exceptions import OperationalError as BrokerError

import audit
from accounts import policy
from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction
from imaging.models import Study
from portal.clinic_admin.selectors import sharing_policy_of
from portal.consents.services import ConsentRequired, require_consent_to_share
from portal.models import Tenant
from portal.sharing.models import Share, StudyUserObjectPermission, active_q
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)

# A share must end: the longest a doctor may be given, and what the form offers first.
MAX_SHARE_DAYS = 365
DEFAULT_SHARE_DAYS = 30

# The per-study rights a clinic admin may give a doctor (django-guardian codenames on imaging.Study).
STUDY_RIGHTS = {
    "view_study": "View",
    "download_study": "Download",
    "share_study": "Share",
}


class ShareRefused(ValueError):
    """A share or a right that may not be given, with the reason to show to whoever asked."""


@dataclass(frozen=True)
class ShareOutcome:
    share: Share
    invited: bool


def share_ends_at(last_day: date) -> datetime:
    """A share "until" a day lasts to the end of that day in the portal's time zone."""
    return timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))


def validate_last_day(last_day: date, today: date | None = None) -> None:
    today = today or timezone.localdate()
    if last_day < today:
        raise ShareRefused("The share would already have ended: choose today or a later day.")
    if last_day > today + timedelta(days=MAX_SHARE_DAYS):
        raise ShareRefused(f"A share lasts at most {MAX_SHARE_DAYS} days: choose an earlier day.")


def _role_of(user: User | None, tenant: Tenant) -> str:
    member = policy.membership(user, tenant) if user is not None else None
    return member.role if member is not None else ""


def _grantee_refusal(member: Membership) -> str | None:
    """Why this member of the clinic may not be given a share, if they may not. Only referring doctors
    are: the policy gives every study to clinic-wide roles already, and none to the others."""
    if member.role == Role.REFERRING_PHYSICIAN:
        return None
    if member.role == Role.PATIENT:
        return (
            f"{member.user.email} is a patient of this clinic: a patient cannot be given a share. "
            "To give them a second opinion's copy, make a share link."
        )
    if member.role in policy.roles_seeing_every_study():
        return f"{member.user.email} is a {member.get_role_display()} here and already sees every study."
    return f"{member.user.email} is {member.get_role_display()} here, a role that never opens studies."


def _find_or_invite_doctor(
    tenant: Tenant, email: str, *, invite: bool, full_name: str, specific_reasons: bool
) -> tuple[User, bool]:
    """The doctor to share with, and whether they were just invited (made a referring doctor of the
    clinic). Someone who is not a member is reached only by invitation, whatever other clinic they
    belong to: an account of another clinic is never shared with as it stands."""
    email = User.objects.normalize_email(email.strip()).lower()
    user = User.objects.filter(email__iexact=email).first()
    member = Membership.objects.filter(user=user, tenant=tenant).first() if user is not None else None
    if member is not None:
        refusal = _grantee_refusal(member)
        if refusal is not None:
            # A sharer who may not invite (a patient, a doctor with a per-study right) does not learn
            # which role an address has in the clinic.
            raise ShareRefused(
                refusal if specific_reasons else f"No referring doctor of this clinic has {email}."
            )
        return user, False
    if not invite:
        raise ShareRefused(
            f"No referring doctor of this clinic has {email}."
            + (" Invite them by e-mail instead." if specific_reasons else "")
        )
    if user is not None and not user.is_active:
        raise ShareRefused(f"The account of {email} is disabled; ask the platform operator.")
    if user is None:
        # A random password nobody knows, rather than an unusable one, so that "forgot your password"
        # also works for a doctor whose invitation link expired before they used it.
        user = User.objects.create_user(email, secrets.token_urlsafe(32), full_name=full_name.strip())
    Membership.objects.create(user=user, tenant=tenant, role=Role.REFERRING_PHYSICIAN)
    return user, True


def share_with_doctor(
    *,
    sharer: User,
    study: Study,
    email: str,
    last_day: date,
    note: str = "",
    allow_download: bool = False,
    whole_patient: bool = False,
    invite: bool = False,
    full_name: str = "",
    request: HttpRequest | None = None,
) -> ShareOutcome:
    """Share `study` (or, with `whole_patient`, every study of its patient, present and future) with
    the referring doctor at `email` until the end of `last_day`. With `invite`, an address that is not a
    member yet becomes a referring doctor of the clinic and is e-mailed a link to set a password.

    Raises ShareRefused with a reason to show."""
    tenant = study.tenant
    validate_last_day(last_day)
    # In the clinic's scope from the first decision on: on PostgreSQL the policy's queries need the
    # connection's tenant too (row-level security), whoever calls this, a view or a script.
    with transaction.atomic(), tenant_scope(tenant):
        may_invite = _check_may_share(sharer, study, whole_patient=whole_patient, invite=invite)
        _check_clinic_limits(tenant, last_day, allow_download=allow_download)
        try:
            # The clinic may require the patient's consent to sharing with named doctors (portal.consents).
            require_consent_to_share(study.patient)
        except ConsentRequired as refusal:
            raise ShareRefused(str(refusal)) from refusal
        grantee, invited = _find_or_invite_doctor(
            tenant, email, invite=invite, full_name=full_name, specific_reasons=may_invite
        )
        if grantee.pk == sharer.pk:
            raise ShareRefused("You cannot share a study with yourself.")
        target = {"patient": study.patient} if whole_patient else {"study": study}
        existing = Share.objects.filter(active_q(timezone.now()), grantee=grantee, **target).first()
        if existing is not None:
            raise ShareRefused(
                f"{grantee.email} already has this share until {existing.expires_at:%Y-%m-%d}; "
                "revoke it first to change it."
            )
        share = Share.objects.create(
            tenant=tenant,
            grantee=grantee,
            granted_by=sharer,
            note=note.strip(),
            allow_download=allow_download,
            expires_at=share_ends_at(last_day),
            **target,
        )
        _record_share(share, invited=invited, request=request)
        if invited:
            # After the commit: the worker must find the new account and membership.
            transaction.on_commit(lambda: _queue_invitation(grantee, tenant, sharer, request))
    return ShareOutcome(share=share, invited=invited)


def _check_may_share(sharer: User, study: Study, *, whole_patient: bool, invite: bool) -> bool:
    """Refuse what the policy does not let `sharer` do; whether they may invite."""
    tenant = study.tenant
    if not policy.can(sharer, policy.Action.SHARE_STUDY, study):
        raise ShareRefused("You may not share this study.")
    if whole_patient and not policy.can(sharer, policy.Action.SHARE_PATIENT, tenant):
        raise ShareRefused("You may share this study, not every study of the patient.")
    may_invite = policy.can(sharer, policy.Action.INVITE_DOCTOR, tenant)
    if invite and not may_invite:
        raise ShareRefused("You may share with the clinic's doctors, not invite new ones.")
    return may_invite


def _check_clinic_limits(tenant: Tenant, last_day: date, *, allow_download: bool) -> None:
    """Refuse a share beyond the clinic's own sharing policy (portal.clinic_admin), which may be
    stricter than the platform's MAX_SHARE_DAYS."""
    limits = sharing_policy_of(tenant)
    longest = timezone.localdate() + timedelta(days=limits.share_max_days)
    if last_day > longest:
        raise ShareRefused(
            f"This clinic allows shares of at most {limits.share_max_days} days: "
            f"choose {longest:%Y-%m-%d} or an earlier day."
        )
    if allow_download and not limits.shares_may_allow_download:
        raise ShareRefused("This clinic does not allow shares that let the doctor download the images.")


def _record_share(share: Share, *, invited: bool, request: HttpRequest | None) -> None:
    sharer, tenant = share.granted_by, share.tenant
    sharer_role = _role_of(sharer, tenant)
    audit.record(
        AuditAction.SHARE_GRANTED,
        request=request,
        actor=sharer,
        tenant=tenant,
        actor_role=sharer_role,
        object_type="share",
        object_ids=[str(share.pk)],
        details=_share_details(share) | {"allow_download": share.allow_download, "invited": invited},
    )
    if invited:
        audit.record(
            AuditAction.INVITATION_SENT,
            request=request,
            actor=sharer,
            tenant=tenant,
            actor_role=sharer_role,
            object_type="user",
            object_ids=[str(share.grantee_id)],
            details={"role": Role.REFERRING_PHYSICIAN.value, "share": str(share.pk)},
        )


def _share_details(share: Share) -> dict:
    """Identifiers of what a share covers and whom it is for, for audit events (no note, no names)."""
    covered = (
        {"study": share.study.study_instance_uid} if share.study_id else {"patient": str(share.patient_id)}
    )
    return covered | {"grantee": str(share.grantee_id), "expires_at": share.expires_at.isoformat()}


def _queue_invitation(grantee: User, tenant: Tenant, sharer: User, request: HttpRequest | None) -> None:
    from portal.sharing.tasks import send_share_invitation

    arguments = (
        grantee.pk,
        tenant.pk,
        sharer.pk,
        request.get_host() if request is not None else "",
        request.is_secure() if request is not None else True,
    )
    try:
        send_share_invitation.delay(*arguments)
    except BrokerError:
        # The doctor needs the mail more than the sharer needs a fast answer while the broker is down.
        logger.warning("Broker unreachable; a share invitation is sent in the request")
        send_share_invitation(*arguments)


def revoke_share(share: Share, *, actor: User | None, request: HttpRequest | None = None, by: str) -> bool:
    """End an active share now: the doctor's next request is refused (accounts.policy reads the row each
    time). `by` says in what capacity: `sharer`, `clinic_admin`, `patient`, `platform_admin`.
    False when the share had already ended."""
    now = timezone.now()
    tenant = share.tenant
    with tenant_scope(tenant):
        if not Share.objects.filter(active_q(now), pk=share.pk).update(revoked_at=now, revoked_by=actor):
            return False
        share.revoked_at, share.revoked_by = now, actor
        audit.record(
            AuditAction.SHARE_REVOKED,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role="platform_operator" if by == "platform_admin" else _role_of(actor, tenant),
            object_type="share",
            object_ids=[str(share.pk)],
            details=_share_details(share) | {"by": by},
        )
    return True


def revoker_capacity(user: User, share: Share) -> str:
    """In which capacity `user`, whom the policy lets end `share`, ends it: for the audit trail."""
    if share.granted_by_id == user.pk:
        return "sharer"
    return "patient" if _role_of(user, share.tenant) == Role.PATIENT else "clinic_admin"


def mark_shares_seen(user: User, study: Study) -> int:
    """The doctor opened `study`: their active shares of it (or of its patient) are no longer new on
    their worklist. Returns how many were new."""
    if not user.is_authenticated:
        return 0
    now = timezone.now()
    with tenant_scope(study.tenant):
        return (
            Share.objects.filter(active_q(now), grantee=user, seen_at__isnull=True)
            .filter(Q(study=study) | Q(patient_id=study.patient_id))
            .update(seen_at=now)
        )


def _doctor_of(tenant: Tenant, email: str) -> User:
    member = (
        Membership.objects.filter(tenant=tenant, user__email__iexact=email.strip())
        .select_related("user")
        .first()
    )
    if member is None:
        raise ShareRefused(f"No member of this clinic has {email.strip()}.")
    if member.role != Role.REFERRING_PHYSICIAN:
        # The policy honours per-study rights for referring doctors only: anyone else would be given a
        # right that does nothing, or one their role already has.
        raise ShareRefused(
            f"{member.user.email} is {member.get_role_display()} here: "
            "per-study rights are for referring doctors."
        )
    return member.user


def give_study_right(
    *, admin: User, study: Study, email: str, codename: str, request: HttpRequest | None = None
) -> User:
    """Give the referring doctor at `email` one right on one study (django-guardian), audited."""
    return _change_study_right(admin, study, email, codename, request, give=True)


def remove_study_right(
    *, admin: User, study: Study, email: str, codename: str, request: HttpRequest | None = None
) -> User:
    """Take one per-study right away from a doctor, audited; it applies from their next request."""
    return _change_study_right(admin, study, email, codename, request, give=False)


def _change_study_right(
    admin: User, study: Study, email: str, codename: str, request: HttpRequest | None, *, give: bool
) -> User:
    tenant = study.tenant
    if not policy.can(admin, policy.Action.MANAGE_SHARES, tenant):
        raise ShareRefused("Only the clinic's admins give or remove per-study rights.")
    if codename not in STUDY_RIGHTS:
        raise ShareRefused(f"Unknown right {codename!r}.")
    doctor = _doctor_of(tenant, email)
    held = StudyUserObjectPermission.objects.filter(
        user=doctor, content_object=study, permission__codename=codename
    ).exists()
    if give == held:
        raise ShareRefused(
            f"{doctor.email} {'already has' if give else 'does not have'} the right "
            f"“{STUDY_RIGHTS[codename]}” on this study."
        )
    (assign_perm if give else remove_perm)(f"imaging.{codename}", doctor, study)
    audit.record(
        AuditAction.PERMISSION_GRANTED if give else AuditAction.PERMISSION_REMOVED,
        request=request,
        actor=admin,
        tenant=tenant,
        actor_role=_role_of(admin, tenant),
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"user": str(doctor.pk), "permission": codename},
    )
    return doctor
