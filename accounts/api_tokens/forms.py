from django import forms

from accounts import policy
from accounts.models import Membership, TokenScope, User
from accounts.tokens import DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS
from portal.models import Tenant


class NewTokenForm(forms.Form):
    """Name, clinic, scopes and lifetime of a new token. The scopes offered are those the user may give
    a token in any of their clinics; the chosen clinic's role is checked when the form is cleaned."""

    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “nightly PACS export”.")
    tenant = forms.ChoiceField(label="Clinic")
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.API_READ, TokenScope.DICOMWEB_READ],
        help_text="Writes need a role that may store studies; clinic administration, the clinic admin role.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        min_value=1,
        max_value=MAX_LIFETIME_DAYS,
        initial=DEFAULT_LIFETIME_DAYS,
        help_text=f"At most {MAX_LIFETIME_DAYS} days.",
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        memberships = list(
            Membership.objects.filter(user=user, tenant__is_active=True).select_related("tenant")
        )
        self.tenants = {str(member.tenant.pk): member.tenant for member in memberships}
        self.fields["tenant"].choices = [
            (str(member.tenant.pk), f"{member.tenant.name} ({member.get_role_display()})")
            for member in memberships
        ]
        offered = {
            scope for tenant in self.tenants.values() for scope in policy.grantable_token_scopes(user, tenant)
        }
        self.fields["scopes"].choices = [
            (scope.value, scope.label) for scope in TokenScope if scope in offered
        ]

    def clean_tenant(self) -> Tenant:
        return self.tenants[self.cleaned_data["tenant"]]

    def clean(self) -> dict:
        cleaned = super().clean()
        tenant, scopes = cleaned.get("tenant"), cleaned.get("scopes")
        if tenant is not None and scopes:
            grantable = policy.grantable_token_scopes(self.user, tenant)
            refused = [TokenScope(scope).label for scope in scopes if scope not in grantable]
            if refused:
                role = policy.membership(self.user, tenant).get_role_display()
                self.add_error(
                    "scopes",
                    f"As {role} at {tenant.name} you may not give a token: {', '.join(refused)}.",
                )
        return cleaned
