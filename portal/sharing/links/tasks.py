"""Share link tasks (Celery finds them through portal/sharing/tasks.py)."""

from celery import shared_task

from portal.sharing.links import codes


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_share_link_code(link_id: int, tenant_id: int) -> None:
    """Make and e-mail a one-time code for opening share link `link_id` (codes.send_email_code)."""
    codes.send_email_code(link_id, tenant_id)
