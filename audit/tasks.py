from celery import shared_task

from audit.checkpoints import sign_checkpoints


@shared_task
def sign_audit_checkpoints() -> int:
    """Run daily by beat: verify each audit chain's new events and sign its newest link."""
    return len(sign_checkpoints())
