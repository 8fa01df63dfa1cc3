"""Which authentication rules bind a user: their clinics' security policies, the strictest of each.

Clinics set their rules in accounts.SecurityPolicy (platform admin). A person in several clinics (a
doctor, a patient imaged at two clinics) is held to the strictest value of each rule across the active
clinics they belong to, so that joining a lenient clinic never weakens a strict one. A user in no
clinic (a platform operator) gets the model's defaults.
"""

from dataclasses import dataclass

from accounts.models import Membership, SecurityPolicy, User
from portal.models import Tenant


@dataclass(frozen=True)
class EffectivePolicy:
    password_history: int
    password_max_age_days: int | None
    idle_timeout_minutes: int
    absolute_lifetime_hours: int
    mfa_required: bool


def policy_for_tenant(tenant: Tenant) -> SecurityPolicy:
    """The clinic's policy, created with the defaults if it has none yet."""
    policy, _ = SecurityPolicy.objects.get_or_create(tenant=tenant)
    return policy


def effective_policy(user: User) -> EffectivePolicy:
    """The strictest of the policies of `user`'s active clinics (defaults when they have none)."""
    memberships = list(Membership.objects.filter(user=user, tenant__is_active=True).only("tenant_id", "role"))
    stored = {
        p.tenant_id: p for p in SecurityPolicy.objects.filter(tenant__in=[m.tenant_id for m in memberships])
    }
    # A clinic without a stored policy is held to the defaults; reading does not create the row.
    pairs = [(m, stored.get(m.tenant_id) or SecurityPolicy(tenant_id=m.tenant_id)) for m in memberships]
    if not pairs:
        defaults = SecurityPolicy()
        return EffectivePolicy(
            password_history=defaults.password_history,
            password_max_age_days=defaults.password_max_age_days,
            idle_timeout_minutes=defaults.idle_timeout_minutes,
            absolute_lifetime_hours=defaults.absolute_lifetime_hours,
            # Platform operators hold the keys to every clinic.
            mfa_required=user.is_superuser,
        )
    policies = [policy for _, policy in pairs]
    max_ages = [p.password_max_age_days for p in policies if p.password_max_age_days is not None]
    return EffectivePolicy(
        password_history=max(p.password_history for p in policies),
        password_max_age_days=min(max_ages) if max_ages else None,
        idle_timeout_minutes=min(p.idle_timeout_minutes for p in policies),
        absolute_lifetime_hours=min(p.absolute_lifetime_hours for p in policies),
        mfa_required=user.is_superuser or any(m.role in p.mfa_required_roles for m, p in pairs),
    )
