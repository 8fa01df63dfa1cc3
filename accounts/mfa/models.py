"""Backup codes, kept as hashes.

django-otp's own StaticDevice keeps its tokens in clear (StaticToken.token, 16 characters), so anyone
reading the database or a backup could sign in past the second factor. Here each code is stored as its
SHA-256 only. The codes carry 80 random bits, so a fast hash is enough (as for API tokens): no
dictionary to try, and a slow hash would cost seconds when ten codes are checked.
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

BACKUP_CODE_COUNT = 10
# 16 characters of RFC 4648 base32, lowercase: 80 bits, typed in four groups of four.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_LENGTH = 16


def new_backup_code() -> str:
    code = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, _LENGTH, 4))


def normalise_backup_code(typed: str) -> str:
    """What the user typed, without the spaces and hyphens they may or may not have copied."""
    return "".join(ch for ch in typed.lower() if ch not in " -\t")


def backup_code_hash(code: str) -> str:
    return hashlib.sha256(normalise_backup_code(code).encode()).hexdigest()


class BackupCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """A user's set of single-use backup codes: one device, one row per unused code."""

    class Meta(Device.Meta):
        verbose_name = "backup codes"
        verbose_name_plural = "backup codes"

    def get_throttle_factor(self) -> int:
        # django-otp's setting for its own static (backup) tokens: 1 s, 2 s, 4 s... after each wrong code.
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def verify_token(self, token: str) -> bool:
        """True once for each code: a code that matched is deleted. Call through django_otp.verify_token,
        which locks the device row, so that a code raced from two requests works only once."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        used = self.codes.filter(code_hash=backup_code_hash(str(token))).first()
        if used is None:
            self.throttle_increment()
            return False
        used.delete()
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True

    def remaining(self) -> int:
        return self.codes.count()


class BackupCode(models.Model):
    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, help_text="SHA-256 of the code, hex.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_hash"], name="backup_code_unique")]

    def __str__(self) -> str:
        return f"Backup code {self.code_hash[:8]}… of device {self.device_id}"
