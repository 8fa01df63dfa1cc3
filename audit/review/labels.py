"""Plain-words labels for the codes an audit event stores (action, outcome, actor role)."""

from accounts.roles import Role
from audit.models import AuditAction, Outcome

# Roles written by paths without a membership; accounts.roles.Role has the members' roles.
_OTHER_ROLES = {
    "platform_operator": "Platform operator",
    "remote_ae": "DICOM system",
    "share_link": "Share link",
}


def role_label(role: str) -> str:
    if role in Role.values:
        return Role(role).label
    return _OTHER_ROLES.get(role, role)


def action_label(action: str) -> str:
    return AuditAction(action).label if action in AuditAction.values else action


def outcome_label(outcome: str) -> str:
    return Outcome(outcome).label if outcome in Outcome.values else outcome
