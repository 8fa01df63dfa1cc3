"""Every change to a user's second factors, and every second-factor check, with its audit event."""

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest
from django_otp import devices_for_user, verify_token
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.mfa import selectors, sessions
from accounts.mfa.models import (
    BACKUP_CODE_COUNT,
    BackupCode,
    BackupCodeDevice,
    backup_code_hash,
    new_backup_code,
)
from accounts.mfa.selectors import DeviceKind
from accounts.models import User
from audit.models import AuditAction, Outcome

TOTP_DEVICE_NAME = "Authenticator app"
_TOTP_CODE = re.compile(r"\d{6}")


class SecondFactorRefused(Exception):
    """A change the user may not make; the message says why, for the page."""


@dataclass(frozen=True)
class Verification:
    kind: DeviceKind
    device: Device | None
    # Set when a device refused to check the code because of earlier wrong codes.
    throttled_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.device is not None


def _record(request: HttpRequest, action: AuditAction, user: User, **kwargs) -> None:
    audit.record(action, request=request, object_type="user", object_ids=[str(user.pk)], **kwargs)


# --- Checking a second factor ---------------------------------------------------------------------------


def verify_code(request: HttpRequest, typed: str) -> Verification:
    """Check a code typed at the second-factor step: six digits are an authenticator app's code, anything
    else a backup code. On success the session is verified; either way the attempt is audited."""
    user = request.user
    code = "".join(typed.split())
    kind = DeviceKind.TOTP if _TOTP_CODE.fullmatch(code) else DeviceKind.BACKUP_CODES
    model = selectors.DEVICE_MODELS[kind]
    throttled_until = None
    for device in model.objects.filter(user=user, confirmed=True):
        allowed, why = device.verify_is_allowed()
        if not allowed:
            # django-otp's back-off: the device checks nothing, the right code included, until then.
            throttled_until = max(throttled_until or why["locked_until"], why["locked_until"])
            continue
        verified = verify_token(user, device.persistent_id, code)
        if verified is not None:
            return _passed(request, kind, verified)
    _record(
        request,
        AuditAction.MFA_FAILED,
        user,
        outcome=Outcome.FAILURE,
        details={"kind": kind.value, "throttled": throttled_until is not None},
    )
    return Verification(kind, None, throttled_until)


def _passed(request: HttpRequest, kind: DeviceKind, device: Device) -> Verification:
    sessions.mark_verified(request, device)
    _record(request, AuditAction.MFA_VERIFIED, request.user, details={"kind": kind.value})
    if kind == DeviceKind.BACKUP_CODES:
        _record(
            request, AuditAction.MFA_BACKUP_CODE_USED, request.user, details={"remaining": device.remaining()}
        )
    return Verification(kind, device)


def passkey_verified(request: HttpRequest, device: Device) -> None:
    _passed(request, DeviceKind.PASSKEY, device)


def passkey_failed(request: HttpRequest, reason: str) -> None:
    if request.user.is_authenticated:
        _record(
            request,
            AuditAction.MFA_FAILED,
            request.user,
            outcome=Outcome.FAILURE,
            details={"kind": DeviceKind.PASSKEY.value, "reason": reason},
        )


# --- Enrolment ------------------------------------------------------------------------------------------


def pending_totp_device(user: User, device_id: int | None) -> TOTPDevice:
    """The authenticator app being set up: the one named by the session if still unconfirmed, else a new
    secret (any other unconfirmed one of the user is dropped)."""
    pending = (
        TOTPDevice.objects.filter(user=user, confirmed=False, pk=device_id).first() if device_id else None
    )
    if pending is None:
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        pending = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return pending


def confirm_totp_device(request: HttpRequest, device: TOTPDevice, typed: str) -> Verification:
    """The first code from a newly scanned authenticator app confirms it (and verifies the session)."""
    code = "".join(typed.split())
    allowed, why = device.verify_is_allowed()
    if not allowed:
        return Verification(DeviceKind.TOTP, None, why["locked_until"])
    if verify_token(request.user, device.persistent_id, code) is None:
        return Verification(DeviceKind.TOTP, None)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    enrolled(request, device)
    return Verification(DeviceKind.TOTP, device)


def enrolled(request: HttpRequest, device: Device) -> None:
    """A new device is confirmed: a session that had not passed a second factor has now. (The passkey
    package has already put the new passkey on the session; the time of it is Palisade's.)"""
    if not (request.user.is_verified() and sessions.had_passed_second_factor(request)):
        sessions.mark_verified(request, device)
    _record(request, AuditAction.MFA_ENROLLED, request.user, details={"kind": device_kind_value(device)})


def device_kind_value(device: Device) -> str:
    return selectors.device_kind(device).value


@transaction.atomic
def issue_backup_codes(request: HttpRequest) -> list[str]:
    """Ten new single-use codes, replacing any earlier ones. Only their hashes are kept: the caller shows
    the returned codes once."""
    user = request.user
    if not selectors.primary_factor_count(user):
        raise SecondFactorRefused("Set up an authenticator app or a passkey before backup codes.")
    replaced = BackupCodeDevice.objects.filter(user=user).delete()[0] > 0
    device = BackupCodeDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=backup_code_hash(code)) for code in codes
    )
    _record(
        request,
        AuditAction.MFA_ENROLLED,
        user,
        details={"kind": DeviceKind.BACKUP_CODES.value, "codes": len(codes), "replaced": replaced},
    )
    return codes


# --- Removal and reset ----------------------------------------------------------------------------------


@transaction.atomic
def remove_device(request: HttpRequest, device: Device) -> None:
    """The user removes one of their own second factors. Whoever must use MFA keeps at least one
    authenticator app or passkey. A session verified by the removed device must pass another."""
    user = request.user
    kind = selectors.device_kind(device)
    if (
        kind in selectors.PRIMARY_KINDS
        and selectors.primary_factor_count(user) <= 1
        and selectors.mfa_required(user)
    ):
        raise SecondFactorRefused(
            "Your clinic requires a second factor: add another authenticator app or passkey before "
            "removing this one."
        )
    verified_by_it = (
        request.user.is_verified() and request.user.otp_device.persistent_id == device.persistent_id
    )
    device.delete()
    _record(request, AuditAction.MFA_REMOVED, user, details={"kind": kind.value})
    if verified_by_it:
        sessions.forget_second_factor(request)


@transaction.atomic
def reset_second_factors(user: User, *, request: HttpRequest, by: str = "platform_admin") -> dict[str, int]:
    """An operator's reset: every device of the user goes (confirmed or being set up). Sessions that had
    passed a second factor end at their next request (SecondFactorMiddleware); if their clinics require
    MFA the user enrols again at the next sign-in. Returns the count of devices removed per kind."""
    removed: dict[str, int] = {}
    for device in list(devices_for_user(user, confirmed=None)):
        kind = selectors.device_kind(device).value
        device.delete()
        removed[kind] = removed.get(kind, 0) + 1
    audit.record(
        AuditAction.MFA_RESET,
        request=request,
        actor_role="platform_operator",
        object_type="user",
        object_ids=[str(user.pk)],
        details={"by": by, "removed": removed},
    )
    return removed
