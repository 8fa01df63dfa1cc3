from celery import shared_task

from audit.checkpoints import sign_checkpoints

# Registered with the worker through this module (Celery's autodiscovery imports <app>.tasks).
from audit.exports.tasks import forward_audit_to_syslog  # noqa: F401


@shared_task
def sign_audit_checkpoints() -> int:
    """Run daily by beat: verify each audit chain's new events and sign its newest link."""
    return len(sign_checkpoints())
