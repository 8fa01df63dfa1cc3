"""Agreement texts and acceptances for platform operators. A new version is published by adding a text;
a text that a clinic has accepted is evidence of what was signed and can no longer be changed."""

from django import forms
from django.contrib import admin
from django.db.models import Max
from django.http import HttpRequest

from audit.admin import AuditedAdminMixin
from portal.admin_site import ReadOnlyAdminMixin
from portal.agreements.models import AgreementAcceptance, AgreementText


class AgreementTextForm(forms.ModelForm):
    class Meta:
        model = AgreementText
        fields = ["kind", "version", "title", "body", "published_at", "term_days"]

    def clean(self) -> dict:
        data = super().clean()
        kind, version = data.get("kind"), data.get("version")
        if self.instance.pk is None and kind and version is not None:
            latest = AgreementText.objects.filter(kind=kind).aggregate(Max("version"))["version__max"] or 0
            # The current text is the highest version published: a lower one would never be offered.
            if version <= latest:
                self.add_error("version", f"Version {latest} is published; a new version must be higher.")
        return data


@admin.register(AgreementText)
class AgreementTextAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = AgreementTextForm
    list_display = ["kind", "version", "title", "published_at", "term_days", "acceptance_count", "sha256"]
    list_filter = ["kind"]
    readonly_fields = ["sha256"]
    ordering = ["kind", "-version"]

    @admin.display(description="Acceptances")
    def acceptance_count(self, obj: AgreementText) -> int:
        return obj.acceptances.count()

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """Adding with ?kind=baa proposes the next version of that kind, with its title and term."""
        initial = super().get_changeform_initial_data(request)
        latest = AgreementText.objects.filter(kind=initial.get("kind", "")).order_by("-version").first()
        if latest is not None:
            initial.setdefault("version", latest.version + 1)
            initial.setdefault("title", latest.title)
            initial.setdefault("term_days", latest.term_days)
        return initial

    def has_change_permission(self, request: HttpRequest, obj: AgreementText | None = None) -> bool:
        if obj is not None and obj.acceptances.exists():
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: AgreementText | None = None) -> bool:
        if obj is not None and obj.acceptances.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(AgreementAcceptance)
class AgreementAcceptanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "tenant",
        "kind",
        "version",
        "signer_name",
        "signer_role",
        "signed_at",
        "expires_at",
        "expiry_warned_at",
    ]
    list_filter = ["tenant", "text__kind", "expires_at"]
    list_select_related = ["tenant", "text"]
    date_hierarchy = "expires_at"

    @admin.display(description="Agreement", ordering="text__kind")
    def kind(self, obj: AgreementAcceptance) -> str:
        return obj.text.get_kind_display()

    @admin.display(ordering="text__version")
    def version(self, obj: AgreementAcceptance) -> int:
        return obj.text.version
