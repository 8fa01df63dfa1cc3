import hashlib

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditAction, Outcome
from audit.services import record


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender, request, user, **kwargs) -> None:
    record(AuditAction.SIGN_IN, request=request, actor=user)


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def _signed_out(sender, request, user, **kwargs) -> None:
    record(AuditAction.SIGN_OUT, request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # The attempted e-mail may belong to a patient: keep only a digest, enough to correlate attempts.
    attempted = (credentials.get("username") or "").strip().lower()
    record(
        AuditAction.SIGN_IN_FAILED,
        request=request,
        outcome=Outcome.FAILURE,
        details={"attempted_email_sha256": hashlib.sha256(attempted.encode()).hexdigest()},
    )
