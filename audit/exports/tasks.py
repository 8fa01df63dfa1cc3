from celery import shared_task

from audit.exports.forwarding import forward_pending


@shared_task(
    ignore_result=True,
    # The collector down or unreachable: try again later, waiting longer each time (beat also runs
    # the task every half minute; the cursor's lease keeps runs off each other's chains).
    autoretry_for=(OSError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
)
def forward_audit_to_syslog() -> int:
    """Send every audit chain's events after its cursor to the syslog collector (none configured:
    nothing to do). Idempotent: what was sent moved the cursor, what was not is sent next time."""
    return sum(forwarded.sent for forwarded in forward_pending())
