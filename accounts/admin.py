from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

import audit
from accounts.lockout import failed_attempts, failure_limit, unlock
from accounts.mfa import selectors as mfa_selectors
from accounts.mfa import services as mfa_services
from accounts.models import ApiToken, Membership, SecurityPolicy, SessionEndReason, User, UserSession
from accounts.roles import Role
from accounts.sessions.admin import UserSessionAdmin
from accounts.sessions.services import end_sessions_after_password_set
from accounts.tokens import revoke_token
from audit.admin import AuditedAdminMixin
from audit.models import AuditAction
from portal.admin_site import ReadOnlyAdminMixin


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict[str, type[forms.Field]] = {}


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    add_form = UserCreationForm
    form = UserEditForm
    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_superuser", "last_login"]
    list_filter = ["is_active", "is_superuser"]
    search_fields = ["email", "full_name"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["full_name"]}),
        ("Platform rights", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Sign-in", {"fields": ["sign_in_lockout", "second_factors"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    readonly_fields = ["sign_in_lockout", "second_factors"]
    filter_horizontal: list[str] = []
    actions = ["unlock_sign_in", "reset_second_factors"]

    @admin.display(description="Lockout")
    def sign_in_lockout(self, user: User) -> str:
        if user.pk is None:
            return "-"
        failures = failed_attempts(user)
        if failures >= failure_limit():
            return f"Locked after {failures} failed sign-ins: select the user in the list, “Unlock sign-in”."
        return f"Not locked ({failures} recent failed sign-ins)." if failures else "Not locked."

    @admin.display(description="Second factors")
    def second_factors(self, user: User) -> str:
        if user.pk is None:
            return "-"
        kinds = [mfa_selectors.device_kind(device).label for device in mfa_selectors.second_factors(user)]
        return ", ".join(kinds) if kinds else "None."

    @admin.action(description="Reset second factors (MFA) of the selected users")
    def reset_second_factors(self, request: HttpRequest, queryset) -> None:
        # For a user who lost their phone and backup codes: every device goes, the user's verified
        # sessions end, and their next sign-in asks them to enrol again if their clinics require MFA.
        for user in queryset:
            mfa_services.reset_second_factors(user, request=request)
        messages.success(request, f"Second factors reset for {queryset.count()} user(s).")

    @admin.action(description="Unlock sign-in of the selected users")
    def unlock_sign_in(self, request: HttpRequest, queryset) -> None:
        for user in queryset:
            unlock(user, request=request, by="platform_admin")
        messages.success(request, f"Sign-in unlocked for {queryset.count()} user(s).")

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        # A redirect after a POST is Django's sign of a saved password.
        if request.method == "POST" and response.status_code == 302:
            audit.record(
                AuditAction.PASSWORD_CHANGED,
                request=request,
                actor_role="platform_operator",
                object_type="user",
                object_ids=[str(unquote(id))],
                details={"by": "platform_admin"},
            )
            changed = User.objects.get(pk=unquote(id))
            end_sessions_after_password_set(request, changed, SessionEndReason.PASSWORD_CHANGED)
        return response


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__email", "tenant__slug"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """Every token, read-only: users make theirs on the API tokens page, operators with
    `create_api_token` (the plaintext is shown once). Here they are only revoked, which is audited:
    never deleted, as the row is the record of what the token could do and when it was used."""

    list_display = [
        "prefix",
        "user",
        "tenant",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_address",
        "state",
    ]
    list_filter = ["tenant"]
    list_select_related = ["user", "tenant"]
    search_fields = ["prefix", "user__email", "tenant__slug"]
    readonly_fields = [f.name for f in ApiToken._meta.fields if f.name != "token_hash"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        return token.state_at(timezone.now()).capitalize()

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = sum(
            revoke_token(token, request=request, actor_role="platform_operator", by="platform_admin")
            for token in queryset.select_related("tenant")
        )
        messages.success(request, f"{revoked} token(s) revoked.")


class SecurityPolicyForm(forms.ModelForm):
    mfa_required_roles = forms.MultipleChoiceField(
        label="Roles that must use MFA",
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Members with these roles must sign in with a second factor. Patients are optional.",
    )

    class Meta:
        model = SecurityPolicy
        fields = [
            "tenant",
            "password_history",
            "password_max_age_days",
            "idle_timeout_minutes",
            "absolute_lifetime_hours",
            "mfa_required_roles",
        ]


@admin.register(SecurityPolicy)
class SecurityPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Each clinic's authentication rules; a member of several clinics gets the strictest of each rule."""

    form = SecurityPolicyForm
    list_display = [
        "tenant",
        "password_history",
        "password_max_age_days",
        "idle_timeout_minutes",
        "absolute_lifetime_hours",
        "updated_at",
    ]
    search_fields = ["tenant__name", "tenant__slug"]
    autocomplete_fields = ["tenant"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return ["tenant"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A clinic always has a policy: deleting one would only bring the defaults back unannounced.
        return False


admin.site.register(UserSession, UserSessionAdmin)
