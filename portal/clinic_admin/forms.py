"""The clinic admin's policy forms; the bounds themselves live in services (one place for each rule)."""

from django import forms

from accounts.roles import Role
from portal.clinic_admin import services
from portal.clinic_admin.models import PLATFORM_LINK_MAX_DAYS, PLATFORM_SHARE_MAX_DAYS


class SecurityPolicyForm(forms.Form):
    mfa_required_roles = forms.MultipleChoiceField(
        label="Roles that must use a second factor",
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Clinic admins always do. Members of several clinics follow the strictest clinic.",
    )
    idle_timeout_minutes = forms.IntegerField(
        label="Sign out after this many idle minutes",
        min_value=services.IDLE_TIMEOUT_MINUTES[0],
        max_value=services.IDLE_TIMEOUT_MINUTES[1],
        help_text="Between {} and {} minutes (HIPAA automatic logoff).".format(
            *services.IDLE_TIMEOUT_MINUTES
        ),
    )
    absolute_lifetime_hours = forms.IntegerField(
        label="A session ends this many hours after sign-in",
        min_value=services.ABSOLUTE_LIFETIME_HOURS[0],
        max_value=services.ABSOLUTE_LIFETIME_HOURS[1],
        help_text="Between {} and {} hours, however active the session.".format(
            *services.ABSOLUTE_LIFETIME_HOURS
        ),
    )
    password_history = forms.IntegerField(
        label="A new password may not repeat the last",
        min_value=services.PASSWORD_HISTORY[0],
        max_value=services.PASSWORD_HISTORY[1],
        help_text="Between {} and {} passwords; 0 allows reuse.".format(*services.PASSWORD_HISTORY),
    )
    password_max_age_days = forms.IntegerField(
        label="Passwords expire after (days)",
        required=False,
        min_value=services.PASSWORD_MAX_AGE_DAYS[0],
        max_value=services.PASSWORD_MAX_AGE_DAYS[1],
        help_text="Between {} and {} days; empty: passwords do not expire "
        "(as NIST SP 800-63B advises).".format(*services.PASSWORD_MAX_AGE_DAYS),
    )

    def clean_mfa_required_roles(self) -> list[str]:
        # The page shows these ticked and locked (a disabled box is not sent); the service refuses a
        # policy without them whoever calls it.
        return sorted(set(self.cleaned_data["mfa_required_roles"]) | services.ALWAYS_MFA_ROLES)

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors:
            for field, error in services.security_policy_errors(data).items():
                self.add_error(field, error)
        return data


class SharingPolicyForm(forms.Form):
    link_max_days = forms.IntegerField(
        label="Longest share-link lifetime (days)",
        min_value=1,
        max_value=PLATFORM_LINK_MAX_DAYS,
        help_text=f"1 to {PLATFORM_LINK_MAX_DAYS} days (the platform's limit).",
    )
    links_may_allow_download = forms.BooleanField(
        label="Share links may allow downloading the images", required=False
    )
    share_max_days = forms.IntegerField(
        label="Longest share with a referring doctor (days)",
        min_value=1,
        max_value=PLATFORM_SHARE_MAX_DAYS,
        help_text=f"1 to {PLATFORM_SHARE_MAX_DAYS} days (the platform's limit).",
    )
    shares_may_allow_download = forms.BooleanField(
        label="Shares with doctors may allow downloading the images", required=False
    )
