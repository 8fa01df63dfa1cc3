"""Clinics' identity providers in the platform admin (superusers only: portal.admin_site).

The client secret is write-only: typed once, stored sealed (accounts.sso.client_secrets), never shown.
Changes are audited (admin_change) with the names of the fields changed, never their values.
"""

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from accounts.sso.client_secrets import seal_client_secret
from accounts.sso.models import OidcIdentity, OidcProvider
from audit.admin import AuditedAdminMixin


def _formfield(field: models.Field, **kwargs) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class OidcProviderForm(forms.ModelForm):
    client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )
    clear_client_secret = forms.BooleanField(
        required=False, help_text="Remove the stored secret (a public client, with PKCE only)."
    )

    class Meta:
        model = OidcProvider
        fields = [
            "tenant",
            "enabled",
            "show_on_sign_in_page",
            "issuer",
            "client_id",
            "scopes",
            "email_claim",
            "email_domains",
            "create_users",
            "roles_claim",
            "role_mapping",
            "default_role",
            "mfa_delegated",
            "mfa_acr_values",
            "mfa_amr_values",
        ]
        formfield_callback = _formfield


@admin.register(OidcProvider)
class OidcProviderAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = OidcProviderForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["tenant", "enabled", "issuer", "client_id", "mfa_delegated", "create_users"]
    list_filter = ["enabled", "mfa_delegated"]
    search_fields = ["tenant__name", "tenant__slug", "issuer", "client_id"]
    readonly_fields = ["redirect_uri", "secret_stored", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["tenant", "enabled", "show_on_sign_in_page", "redirect_uri"]}),
        (
            "Provider",
            {
                "fields": [
                    "issuer",
                    "client_id",
                    "client_secret",
                    "clear_client_secret",
                    "secret_stored",
                    "scopes",
                ]
            },
        ),
        ("People", {"fields": ["email_claim", "email_domains", "create_users"]}),
        ("Roles", {"fields": ["roles_claim", "role_mapping", "default_role"]}),
        ("Second factor", {"fields": ["mfa_delegated", "mfa_acr_values", "mfa_amr_values"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="redirect URI to register at the provider")
    def redirect_uri(self, obj: OidcProvider) -> str:
        if obj.pk is None:
            return "https://<this portal>/accounts/sso/<clinic>/callback/"
        return f"https://<this portal>/accounts/sso/{obj.tenant.slug}/callback/"

    @admin.display(description="client secret stored", boolean=True)
    def secret_stored(self, obj: OidcProvider) -> bool:
        return obj.has_client_secret

    def save_model(self, request: HttpRequest, obj: OidcProvider, form, change: bool) -> None:
        secret = form.cleaned_data.get("client_secret")
        if secret or form.cleaned_data.get("clear_client_secret"):
            seal_client_secret(obj, secret or "")
        super().save_model(request, obj, form, change)


@admin.register(OidcIdentity)
class OidcIdentityAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Links between a provider's subjects and users: deleting one makes the next sign-in link again by
    verified e-mail."""

    list_display = ["user", "provider", "created_at", "last_sign_in_at"]
    list_filter = ["provider"]
    search_fields = ["user__email"]
    readonly_fields = ["provider", "subject", "user", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
