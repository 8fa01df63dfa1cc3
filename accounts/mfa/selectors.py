"""Reading a user's second factors, and whether their clinics require one."""

from enum import StrEnum

from django.db.models import Model
from django_otp import devices_for_user, user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.mfa.models import BackupCodeDevice
from accounts.models import User
from accounts.security_policy import effective_policy


class DeviceKind(StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    BACKUP_CODES = "backup_codes"

    @property
    def label(self) -> str:
        return {"totp": "Authenticator app", "passkey": "Passkey", "backup_codes": "Backup codes"}[self.value]


DEVICE_MODELS: dict[DeviceKind, type[Model]] = {
    DeviceKind.TOTP: TOTPDevice,
    DeviceKind.PASSKEY: WebAuthnCredential,
    DeviceKind.BACKUP_CODES: BackupCodeDevice,
}
# What a user signs in with day to day; backup codes are only the way back in when those are lost.
PRIMARY_KINDS = (DeviceKind.TOTP, DeviceKind.PASSKEY)


def device_kind(device: Device) -> DeviceKind:
    for kind, model in DEVICE_MODELS.items():
        if isinstance(device, model):
            return kind
    raise ValueError(f"Not a Palisade second factor: {device.persistent_id}")


def second_factors(user: User) -> list[Device]:
    """The user's confirmed devices, in the order DEVICE_MODELS names their kinds."""
    return sorted(devices_for_user(user), key=lambda device: list(DEVICE_MODELS).index(device_kind(device)))


def has_second_factor(user: User) -> bool:
    return user_has_device(user)


def primary_factor_count(user: User) -> int:
    return sum(
        DEVICE_MODELS[kind].objects.filter(user=user, confirmed=True).count() for kind in PRIMARY_KINDS
    )


def backup_codes_of(user: User) -> BackupCodeDevice | None:
    return BackupCodeDevice.objects.filter(user=user, confirmed=True).first()


def mfa_required(user: User) -> bool:
    """The user's clinics (the strictest of them), or being a platform operator, demand a second factor."""
    return effective_policy(user).mfa_required
