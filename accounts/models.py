from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.roles import Role
from portal.models import Tenant


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> "User":
        return self.get(email__iexact=email)

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their e-mail address. Platform operators are superusers."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the platform admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()


class Membership(models.Model):
    """A user's one role in one clinic. A user may belong to several clinics."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_role_per_tenant")]
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.tenant}"


class TokenScope(models.TextChoices):
    """What an API token may be used for (accounts.authentication.required_scope). A token carries a
    subset; which scopes a member may give a token depends on their role (policy.grantable_token_scopes).
    A scope never adds a right: each request is still decided by the policy for the token's user."""

    API_READ = "api:read", "REST API reads"
    API_WRITE = "api:write", "REST API writes"
    DICOMWEB_READ = "dicomweb:read", "DICOMweb reads (QIDO-RS, WADO-RS)"
    DICOMWEB_WRITE = "dicomweb:write", "DICOMweb stores (STOW-RS)"
    ADMIN = "admin", "Clinic administration"


class ApiToken(models.Model):
    """A bearer token for scripts: one user, one clinic, some scopes, an end date.

    Only the SHA-256 of the token is kept; the plaintext is shown once, when it is issued
    (accounts.tokens). Rights still come from the user's membership at each request.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for.")
    prefix = models.CharField(max_length=12, db_index=True, help_text="First characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token, hex.")
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Recorded at most once a minute.")
    last_used_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Address of the last recorded use."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made it on the API tokens page; empty when issued with create_api_token.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"API token {self.prefix}… of {self.user} at {self.tenant}"

    def is_usable_at(self, now) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def state_at(self, now) -> str:
        """The token's state for pages and the admin: `revoked`, `expired` or `active`."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"

    def allows(self, scope: TokenScope) -> bool:
        return scope in self.scopes


# Most old passwords kept per user: the highest history a clinic's policy may ask for.
PASSWORD_HISTORY_MAX = 24


def default_mfa_required_roles() -> list[str]:
    """Every staff role; a clinic may add patients."""
    return [role.value for role in Role if role != Role.PATIENT]


class SecurityPolicy(models.Model):
    """A clinic's authentication rules, one per clinic, created with these defaults when missing.

    Not a TenantOwned model: it holds no PHI, and it is read outside any tenant scope (at sign-in,
    on every request of a member of several clinics), where a scoped query would raise. A user who
    belongs to several clinics gets the strictest of their clinics' policies
    (accounts.security_policy.effective_policy).
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="security_policy")
    password_history = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(PASSWORD_HISTORY_MAX)],
        help_text="A new password may not be any of the member's last N passwords (0 allows reuse).",
    )
    password_max_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days after which a password must be changed at the next sign-in. Empty: passwords "
        "do not expire (NIST SP 800-63B 5.1.1.2 advises against periodic changes).",
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1)],
        help_text="A session idle this long ends (HIPAA 164.312(a)(2)(iii) automatic logoff).",
    )
    absolute_lifetime_hours = models.PositiveIntegerField(
        default=12, validators=[MinValueValidator(1)], help_text="A session ends this long after sign-in."
    )
    mfa_required_roles = models.JSONField(
        "roles that must use MFA",
        default=default_mfa_required_roles,
        blank=True,
        help_text="Members with these roles must sign in with a second factor.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "security policy"
        verbose_name_plural = "security policies"
        ordering = ["tenant__name"]

    def __str__(self) -> str:
        return f"Security policy of {self.tenant}"

    def clean(self) -> None:
        unknown = set(self.mfa_required_roles or []) - set(Role.values)
        if unknown:
            raise ValidationError({"mfa_required_roles": f"Unknown roles: {', '.join(sorted(unknown))}."})


class PasswordHistory(models.Model):
    """A password a user had, as its hash (the same hasher as User.password), never the password.

    Written by accounts.passwords.PasswordHistoryValidator.password_changed whenever a password is set;
    the newest row also dates the current password for expiry."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "password history"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"Password of {self.user_id} set at {self.created_at:%Y-%m-%d %H:%M}"


class SessionEndReason(models.TextChoices):
    SIGNED_OUT = "signed_out", "Signed out"
    IDLE = "idle", "Idle timeout"
    LIFETIME = "lifetime", "Maximum lifetime reached"
    REVOKED = "revoked", "Ended by the user from another session"
    ENDED_BY_OPERATOR = "ended_by_operator", "Ended by a platform operator"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    PRIVILEGE_CHANGED = "privilege_changed", "Access rights changed"
    ACCOUNT_DISABLED = "account_disabled", "Account disabled"


class UserSession(models.Model):
    """One signed-in browser session: its timeouts, and what the "Your sessions" page lists.

    Keeps the SHA-256 of the session key (the value AuditEvent.session_ref holds), never the key, so
    this table cannot be used to take over a session. A session ended here (revoked, password changed)
    is deleted from Django's session store at its next request (accounts.sessions.middleware). Not
    tenant-owned: a user's session spans their clinics.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="user_sessions")
    key_digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the session key, hex.")
    created_at = models.DateTimeField(help_text="Sign-in.")
    last_seen_at = models.DateTimeField(help_text="Last request, recorded at most once a minute.")
    idle_expires_at = models.DateTimeField(help_text="Ends if there is no request before this.")
    expires_at = models.DateTimeField(help_text="Ends at this time whatever the activity.")
    ip_address = models.GenericIPAddressField(null=True, blank=True, help_text="Address of the last use.")
    device = models.CharField(
        max_length=100, blank=True, help_text="Browser and system, from the user agent."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=32, choices=SessionEndReason.choices, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"Session {self.pk} of {self.user_id}"

    def end_reason_at(self, now) -> str | None:
        """Why this session may not serve a request at `now`, or None while it is valid."""
        if self.ended_at is not None:
            return self.ended_reason
        if now >= self.expires_at:
            return SessionEndReason.LIFETIME
        if now >= self.idle_expires_at:
            return SessionEndReason.IDLE
        return None
