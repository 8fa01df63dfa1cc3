"""A clinic admin changing a member's role or removing a member.

A clinic always keeps one admin: without one, nobody could manage it but the platform operator. A change
of rights ends the member's sessions (accounts.sessions.signals), so the new role applies at once and is
used only after a sign-in that meets its rules.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts.models import ApiToken, Membership
from accounts.roles import Role
from audit.models import AuditAction
from portal.models import Tenant
from portal.onboarding.invitations import STAFF_ROLES

LAST_ADMIN_MESSAGE = "The clinic must keep at least one clinic admin: make another member an admin first."


class LastAdmin(ValidationError):
    pass


def staff_memberships(tenant: Tenant):
    """The clinic's members of staff; patients join with access codes and are not managed here."""
    return (
        Membership.objects.filter(tenant=tenant)
        .exclude(role=Role.PATIENT)
        .select_related("user")
        .order_by("user__email")
    )


def _lock_admins(tenant: Tenant) -> list[int]:
    # Locking every admin row of the clinic makes two concurrent demotions wait for each other, so that
    # they cannot both see a second admin and leave none.
    return list(
        Membership.objects.select_for_update()
        .filter(tenant=tenant, role=Role.TENANT_ADMIN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def change_role(membership: Membership, role: str, *, request: HttpRequest) -> bool:
    """Give the member `role`; False when it already was theirs. Raises LastAdmin, ValidationError."""
    if role not in STAFF_ROLES:
        raise ValidationError("Choose a staff role: patients join with an access code.")
    tenant = membership.tenant
    with transaction.atomic():
        admins = _lock_admins(tenant)
        member = Membership.objects.select_for_update().get(pk=membership.pk)
        if member.role == role:
            return False
        if member.role == Role.PATIENT:
            raise ValidationError("Patients are not managed here.")
        if member.role == Role.TENANT_ADMIN and admins == [member.pk]:
            raise LastAdmin(LAST_ADMIN_MESSAGE)
        before = member.role
        member.role = role
        member.save(update_fields=["role"])
        audit.record(
            AuditAction.MEMBER_ROLE_CHANGED,
            request=request,
            tenant=tenant,
            object_type="membership",
            object_ids=[str(member.pk)],
            details={"user": member.user_id, "from": before, "to": role},
        )
    membership.role = role
    return True


def remove_member(membership: Membership, *, request: HttpRequest) -> None:
    """Take the member out of the clinic: their membership, and their API tokens for it. Their sessions
    end (accounts.sessions.signals). Raises LastAdmin."""
    tenant = membership.tenant
    with transaction.atomic():
        admins = _lock_admins(tenant)
        member = Membership.objects.select_for_update().get(pk=membership.pk)
        if member.role == Role.PATIENT:
            raise ValidationError("Patients are not managed here.")
        if member.role == Role.TENANT_ADMIN and admins == [member.pk]:
            raise LastAdmin(LAST_ADMIN_MESSAGE)
        revoked = list(
            ApiToken.objects.filter(
                user_id=member.user_id, tenant=tenant, revoked_at__isnull=True
            ).values_list("pk", flat=True)
        )
        ApiToken.objects.filter(pk__in=revoked).update(revoked_at=timezone.now())
        member_id, user_id, role = member.pk, member.user_id, member.role
        member.delete()
        audit.record(
            AuditAction.MEMBER_REMOVED,
            request=request,
            tenant=tenant,
            object_type="membership",
            object_ids=[str(member_id)],
            details={"user": user_id, "role": role, "api_tokens_revoked": revoked},
        )
