"""Sign-in throttling and lockout, with django-axes (THREATS.md, Access: "Lockout").

Axes counts wrong passwords per sign-in name and client address (AXES_LOCKOUT_PARAMETERS) and, at
AXES_FAILURE_LIMIT in a row, refuses every attempt for that name from that address, right password
included, until the cool-off ends, an administrator unlocks it, or the user sets a new password through
the reset e-mail. This module holds the pieces axes calls back and the unlock operation.

Axes keeps the sign-in name in its own table. We hand it a keyed digest of the normalised e-mail
instead of the e-mail (`sign_in_name_digest`): no address, perhaps a patient's, sits in that table or in
axes' log lines, any spelling of one address ("Ann@X.org", " ann@x.org") counts against the same
account as it signs in the same account, and unknown addresses are counted exactly like known ones.
"""

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import salted_hmac

import audit
from accounts.models import User
from audit.models import AuditAction

_DIGEST_SALT = "palisade.accounts.lockout.sign-in-name"


def sign_in_name_digest(name: str) -> str:
    """HMAC-SHA256 (keyed with SECRET_KEY) of a sign-in name as the sign-in matches it, in hex.

    Correlates attempts on one name without holding the name: a plain SHA-256 of an e-mail address
    can be reversed by hashing a list of candidate addresses, this digest only with the server's key.
    """
    return salted_hmac(_DIGEST_SALT, name.strip().lower(), algorithm="sha256").hexdigest()


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: the digest of the submitted sign-in name."""
    if credentials is not None:
        name = credentials.get(settings.AXES_USERNAME_FORM_FIELD)
    else:
        name = getattr(request, "data", request.POST).get(settings.AXES_USERNAME_FORM_FIELD)
    return sign_in_name_digest(name) if name else None


def client_address(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: REMOTE_ADDR, as the audit trail records it. The ASGI server resolves
    X-Forwarded-For from trusted proxies; trusting the header here would let a client pick a fresh
    address for every attempt."""
    return request.META.get("REMOTE_ADDR") or None


def cool_off_minutes(request: HttpRequest | None = None) -> int | None:
    cool_off = get_cool_off(request)
    return math.ceil(cool_off.total_seconds() / 60) if cool_off else None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the same page for every name, known or not (no user enumeration)."""
    minutes = cool_off_minutes(request)
    response = render(
        request,
        "registration/locked_out.html",
        {"cool_off_minutes": minutes},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response


def failed_attempts(user: User) -> int:
    """Wrong passwords counted against `user` within the cool-off window, the highest count over the
    lockout groups that include the name (per address when locking by name and address)."""
    digest = sign_in_name_digest(user.email)
    attempts = AccessAttempt.objects.filter(username=digest)
    cool_off = get_cool_off()
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    rows = list(attempts.values("ip_address", "user_agent", "failures_since_start"))
    highest = 0
    for group in settings.AXES_LOCKOUT_PARAMETERS:
        fields = [group] if isinstance(group, str) else list(group)
        if "username" not in fields:
            continue
        totals: dict[tuple, int] = {}
        for row in rows:
            key = tuple(row[field] for field in fields if field != "username")
            totals[key] = totals.get(key, 0) + row["failures_since_start"]
        highest = max([highest, *totals.values()])
    return highest


def failure_limit() -> int:
    return get_failure_limit(HttpRequest(), None)


def is_locked_out(user: User) -> bool:
    return failed_attempts(user) >= failure_limit()


def unlock(user: User, *, request: HttpRequest | None = None, by: str, actor: User | None = None) -> int:
    """Forget every counted failure of `user`'s sign-in name, from every address.

    `by` says which path unlocked: "platform_admin", "command" (both always audited) or
    "password_reset" (audited when there was something to clear). Returns how many attempt records
    were cleared."""
    cleared = AxesProxyHandler.reset_attempts(username=sign_in_name_digest(user.email))
    if cleared or by != "password_reset":
        audit.record(
            AuditAction.SIGN_IN_UNLOCKED,
            request=request,
            actor=actor,
            actor_role="platform_operator" if by == "platform_admin" else "",
            object_type="user",
            object_ids=[str(user.pk)],
            details={"by": by, "attempt_records_cleared": cleared},
        )
    return cleared
