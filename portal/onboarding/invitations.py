"""Inviting staff to a clinic, and joining it by invitation.

An invitation carries a random token that only its e-mail holds: the database keeps its SHA-256. The
e-mail is sent from the request that made the token (never through the broker), so the token is written
nowhere else. Patients are never invited: they join with an access code (portal.patients).
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

import audit
from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction
from portal.models import Tenant
from portal.onboarding.models import Invitation
from portal.tenancy import all_tenants_scope, tenant_scope

INVITATION_LIFETIME = timedelta(days=7)
STAFF_ROLES = [role for role in Role if role != Role.PATIENT]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def create_invitation(
    tenant: Tenant, email: str, role: str, *, invited_by: User | None, request: HttpRequest | None
) -> tuple[Invitation, str]:
    """A pending invitation and its token (to put in the e-mail, nowhere else). Audited MEMBER_INVITED."""
    email = email.strip().lower()
    if role not in STAFF_ROLES:
        raise ValidationError({"role": "Choose a staff role: patients join with an access code."})
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member of the clinic."})
    token = _new_token()
    now = timezone.now()
    with tenant_scope(tenant):
        if Invitation.objects.filter(
            email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).exists():
            raise ValidationError(
                {"email": "This person already has a pending invitation: resend it from the list below."}
            )
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
            invited_by=invited_by,
        )
    audit.record(
        AuditAction.MEMBER_INVITED,
        request=request,
        actor=invited_by,
        tenant=tenant,
        object_type="invitation",
        object_ids=[str(invitation.pk)],
        details={"role": role},
    )
    return invitation, token


def send_invitation(invitation: Invitation, token: str, accept_url: str, *, contact_name: str = "") -> None:
    """E-mail the invitation link. The mail names the clinic and the role, never a patient."""
    context = {
        "invitation": invitation,
        "tenant": invitation.tenant,
        "role": Role(invitation.role).label,
        "accept_url": accept_url,
        "contact_name": contact_name,
        "inviter": invitation.invited_by,
        "days": INVITATION_LIFETIME.days,
    }
    send_mail(
        " ".join(render_to_string("onboarding/invitation_subject.txt", context).split()),
        render_to_string("onboarding/invitation_email.txt", context),
        None,
        [invitation.email],
    )


def resend_invitation(invitation: Invitation, *, request: HttpRequest) -> str:
    """Give a pending (or expired) invitation a new token and seven more days; the old link stops working."""
    token = _new_token()
    now = timezone.now()
    with tenant_scope(invitation.tenant):
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(token_hash=token_hash(token), expires_at=now + INVITATION_LIFETIME)
    if not updated:
        raise ValidationError("This invitation was already accepted or revoked.")
    invitation.refresh_from_db()
    audit.record(
        AuditAction.MEMBER_INVITED,
        request=request,
        tenant=invitation.tenant,
        object_type="invitation",
        object_ids=[str(invitation.pk)],
        details={"role": invitation.role, "resent": True},
    )
    return token


def revoke_invitation(invitation: Invitation, *, request: HttpRequest) -> bool:
    with tenant_scope(invitation.tenant):
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
    if updated:
        # No audit action of its own: an administrative change of the clinic's staff.
        audit.record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            tenant=invitation.tenant,
            object_type="invitation",
            object_ids=[str(invitation.pk)],
            details={"operation": "revoked", "role": invitation.role},
        )
    return bool(updated)


def find_invitation(token: str) -> Invitation | None:
    """The invitation of `token`, whatever its state, or None. Looked up across clinics: the token is
    all the visitor has, and its hash is unique."""
    if not token or len(token) > 100:
        return None
    with all_tenants_scope():
        return Invitation.objects.select_related("tenant").filter(token_hash=token_hash(token)).first()


@dataclass(frozen=True)
class NewAccount:
    email: str
    password: str
    full_name: str = ""


class InvitationRefused(Exception):
    pass


def accept_invitation(invitation: Invitation, account: User | NewAccount, *, request: HttpRequest) -> User:
    """Join the clinic: the account (made now for a NewAccount) becomes a member with the invitation's
    role, and the invitation is used. All or nothing; audited MEMBER_JOINED."""
    tenant = invitation.tenant
    now = timezone.now()
    with tenant_scope(tenant), transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.state_at(now) != "pending":
            raise InvitationRefused("This invitation has just been used, revoked or has expired.")
        if account.email.lower() != locked.email.lower():
            raise InvitationRefused("This invitation is for another e-mail address.")
        if isinstance(account, NewAccount):
            if User.objects.filter(email__iexact=account.email).exists():
                raise InvitationRefused("An account with this e-mail address exists: sign in with it first.")
            user = User.objects.create_user(account.email, account.password, full_name=account.full_name)
        else:
            user = account
        if Membership.objects.filter(user=user, tenant=tenant).exists():
            raise InvitationRefused("This account already belongs to the clinic.")
        membership = Membership.objects.create(user=user, tenant=tenant, role=locked.role)
        Invitation.objects.filter(pk=locked.pk).update(accepted_at=now, accepted_by=user)
    audit.record(
        AuditAction.MEMBER_JOINED,
        request=request,
        actor=user,
        tenant=tenant,
        actor_role=locked.role,
        object_type="membership",
        object_ids=[str(membership.pk)],
        details={
            "invitation": locked.pk,
            "role": locked.role,
            "new_account": isinstance(account, NewAccount),
        },
    )
    return user
