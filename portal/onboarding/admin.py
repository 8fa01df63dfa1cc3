"""The platform operator's side of onboarding: deciding clinics' requests in Django admin."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from portal.admin_site import ReadOnlyAdminMixin
from portal.onboarding import services
from portal.onboarding.models import ClinicRequest
from portal.onboarding.views import accept_url


@admin.register(ClinicRequest)
class ClinicRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["clinic_name", "slug", "country", "jurisdiction", "contact_email", "status", "created_at"]
    list_filter = ["status", "jurisdiction"]
    search_fields = ["clinic_name", "slug", "contact_email"]
    readonly_fields = [field.name for field in ClinicRequest._meta.fields]
    actions = ["approve", "decline"]

    @admin.action(description="Approve and invite the clinic admin")
    def approve(self, request: HttpRequest, queryset: QuerySet[ClinicRequest]) -> None:
        for clinic_request in queryset:
            try:
                tenant = services.approve_request(
                    clinic_request,
                    operator=request.user,
                    request=request,
                    accept_url_of=lambda token: accept_url(request, token),
                )
            except ValidationError as exc:
                self.message_user(request, f"{clinic_request.slug}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{tenant.name} was created in {tenant.home_region}; {clinic_request.contact_email} "
                    "was invited as its clinic admin.",
                    messages.SUCCESS,
                )

    @admin.action(description="Decline")
    def decline(self, request: HttpRequest, queryset: QuerySet[ClinicRequest]) -> None:
        for clinic_request in queryset:
            try:
                services.decline_request(clinic_request, operator=request.user, request=request)
            except ValidationError as exc:
                self.message_user(request, f"{clinic_request.slug}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"The request of {clinic_request.clinic_name} was declined.")
