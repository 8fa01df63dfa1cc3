from celery import shared_task


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_password_reset_email(email: str, domain: str, use_https: bool, source_address: str | None) -> None:
    """Send the reset link if `email` has an account; queued for every address asked for, known or not
    (accounts.views.PasswordResetView)."""
    from accounts.views import AuditedPasswordResetForm

    form = AuditedPasswordResetForm(data={"email": email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https, source_address=source_address)
