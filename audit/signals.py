from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.lockout import sign_in_name_digest
from accounts.models import User
from audit.models import AuditAction, Outcome
from audit.services import record


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender, request, user, **kwargs) -> None:
    # How the person signed in, when not with a password (accounts.sso.services sets it before login()).
    details = getattr(request, "sign_in_details", None)
    record(AuditAction.SIGN_IN, request=request, actor=user, details=details)


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def _signed_out(sender, request, user, **kwargs) -> None:
    record(AuditAction.SIGN_OUT, request=request, actor=user)


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # The attempted e-mail may be a patient's, or a typo of someone's password: it is kept only as a
    # keyed digest (accounts.lockout.sign_in_name_digest, the same value the lockout counts by), enough
    # to follow attempts on one name, useless to anyone without the server's key. No actor: whoever
    # typed it is unknown.
    attempted = credentials.get("username") or ""
    details = {"attempted_name_hmac": sign_in_name_digest(attempted)}
    # Axes refused the attempt without checking the password: the name was already locked from this
    # address. (A password that was checked leaves axes' failure count on the request.)
    if (
        getattr(request, "axes_locked_out", False)
        and getattr(request, "axes_failures_since_start", None) is None
    ):
        details["refused_while_locked"] = True
    record(AuditAction.SIGN_IN_FAILED, request=request, outcome=Outcome.FAILURE, details=details)


@receiver(user_locked_out, dispatch_uid="audit-sign-in-locked-out")
def _sign_in_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    # Axes signals again for each attempt refused during the lockout; those are recorded as failed
    # sign-ins above. Only the failure that reached the limit (its count is on the request) locks.
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    attempted = ((getattr(request, "axes_credentials", None) or {}).get("username") or "").strip()
    account = User.objects.filter(email__iexact=attempted).only("pk").first() if attempted else None
    record(
        AuditAction.SIGN_IN_LOCKED_OUT,
        request=request,
        outcome=Outcome.FAILURE,
        object_type="user" if account else "",
        object_ids=[str(account.pk)] if account else [],
        details={"attempted_name_hmac": username, "failures": request.axes_failures_since_start},
    )
