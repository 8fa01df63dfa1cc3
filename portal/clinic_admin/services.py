"""Changing a clinic's policies from its settings pages: bounded, and each change audited.

Every change records POLICY_CHANGED with `{"policy": <name>, "changed": {field: [old, new]}}`: settings
only, never PHI. A save that changes nothing records nothing.
"""

from django.db import transaction
from django.http import HttpRequest

import audit
from accounts.models import PASSWORD_HISTORY_MAX, SecurityPolicy
from accounts.roles import Role
from accounts.security_policy import policy_for_tenant
from audit.models import AuditAction
from portal.clinic_admin.models import PLATFORM_LINK_MAX_DAYS, PLATFORM_SHARE_MAX_DAYS, SharingPolicy
from portal.models import Tenant
from portal.tenancy import tenant_scope

# The bounds a clinic admin may choose within (docs/clinic-admin.md). Idle logoff: HIPAA
# 164.312(a)(2)(iii); at least 5 minutes so that reading a study is not cut off, at most an hour.
IDLE_TIMEOUT_MINUTES = (5, 60)
ABSOLUTE_LIFETIME_HOURS = (1, 24)
PASSWORD_HISTORY = (0, PASSWORD_HISTORY_MAX)
# Empty means passwords do not expire (NIST SP 800-63B advises against periodic changes).
PASSWORD_MAX_AGE_DAYS = (30, 730)
# Whoever runs the clinic holds the keys to all of it: their second factor cannot be switched off.
ALWAYS_MFA_ROLES = frozenset({Role.TENANT_ADMIN.value})

SECURITY_FIELDS = [
    "mfa_required_roles",
    "idle_timeout_minutes",
    "absolute_lifetime_hours",
    "password_history",
    "password_max_age_days",
]
SHARING_FIELDS = ["link_max_days", "links_may_allow_download", "share_max_days", "shares_may_allow_download"]


class PolicyRefused(ValueError):
    """Values outside the bounds: `errors` maps each field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {error}" for field, error in errors.items()))
        self.errors = errors


def _out_of(value: int | None, bounds: tuple[int, int], unit: str) -> str | None:
    low, high = bounds
    if value is None or not low <= value <= high:
        return f"Choose between {low} and {high} {unit}."
    return None


def security_policy_errors(values: dict) -> dict[str, str]:
    """Why each of `values` (SECURITY_FIELDS) is not allowed; empty when all are."""
    errors = {
        "idle_timeout_minutes": _out_of(values.get("idle_timeout_minutes"), IDLE_TIMEOUT_MINUTES, "minutes"),
        "absolute_lifetime_hours": _out_of(
            values.get("absolute_lifetime_hours"), ABSOLUTE_LIFETIME_HOURS, "hours"
        ),
        "password_history": _out_of(values.get("password_history"), PASSWORD_HISTORY, "passwords"),
    }
    if values.get("password_max_age_days") is not None:
        errors["password_max_age_days"] = _out_of(
            values["password_max_age_days"], PASSWORD_MAX_AGE_DAYS, "days, or leave it empty"
        )
    roles = set(values.get("mfa_required_roles") or [])
    if unknown := roles - set(Role.values):
        errors["mfa_required_roles"] = f"Unknown roles: {', '.join(sorted(unknown))}."
    elif missing := ALWAYS_MFA_ROLES - roles:
        errors["mfa_required_roles"] = (
            f"{', '.join(Role(role).label for role in sorted(missing))} must always use a second factor."
        )
    return {field: error for field, error in errors.items() if error}


def change_security_policy(
    tenant: Tenant, values: dict, *, request: HttpRequest | None, actor_role: str = ""
) -> dict[str, list]:
    """Set the clinic's SecurityPolicy to `values` (SECURITY_FIELDS); returns what changed.

    Open sessions get the new timeouts within a minute (accounts.sessions reads the policy again)."""
    if errors := security_policy_errors(values):
        raise PolicyRefused(errors)
    values = {**values, "mfa_required_roles": sorted(set(values["mfa_required_roles"]))}
    with transaction.atomic():
        policy_for_tenant(tenant)  # the row exists from here on
        policy = SecurityPolicy.objects.select_for_update().get(tenant=tenant)
        changed = _apply(policy, values, SECURITY_FIELDS)
        if changed:
            policy.save()
            _record(
                tenant, "security", changed, object_id=str(policy.pk), request=request, actor_role=actor_role
            )
    return changed


def sharing_policy_errors(values: dict) -> dict[str, str]:
    errors = {
        "link_max_days": _out_of(values.get("link_max_days"), (1, PLATFORM_LINK_MAX_DAYS), "days"),
        "share_max_days": _out_of(values.get("share_max_days"), (1, PLATFORM_SHARE_MAX_DAYS), "days"),
    }
    return {field: error for field, error in errors.items() if error}


def change_sharing_policy(
    tenant: Tenant, values: dict, *, request: HttpRequest | None, actor_role: str = ""
) -> dict[str, list]:
    """Set the clinic's sharing limits to `values` (SHARING_FIELDS); returns what changed. Shares and
    links made before keep their end: the limits bind what is made from now on."""
    if errors := sharing_policy_errors(values):
        raise PolicyRefused(errors)
    with transaction.atomic(), tenant_scope(tenant):
        policy, _ = SharingPolicy.objects.select_for_update().get_or_create(tenant=tenant)
        changed = _apply(policy, values, SHARING_FIELDS)
        if changed:
            policy.save()
            _record(
                tenant, "sharing", changed, object_id=str(policy.pk), request=request, actor_role=actor_role
            )
    return changed


def _apply(row, values: dict, fields: list[str]) -> dict[str, list]:
    changed = {}
    for field in fields:
        old, new = getattr(row, field), values[field]
        if isinstance(old, list):
            old = sorted(old)
        if old != new:
            changed[field] = [old, new]
            setattr(row, field, new)
    return changed


def _record(
    tenant: Tenant, name: str, changed: dict, *, object_id: str, request: HttpRequest | None, actor_role: str
) -> None:
    audit.record(
        AuditAction.POLICY_CHANGED,
        request=request,
        tenant=tenant,
        actor_role=actor_role,
        object_type=f"{name}_policy",
        object_ids=[object_id],
        details={"policy": name, "changed": changed},
    )
