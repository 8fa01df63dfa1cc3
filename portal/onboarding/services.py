"""A clinic's way from request to go-live: the request, the operator's decision, the home region, the
skipped steps and going live. Invitations and members are in portal.onboarding.invitations, DICOM peers
in portal.onboarding.peers."""

from collections.abc import Callable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

import audit
from accounts.models import User
from accounts.roles import Role
from audit.models import AuditAction
from imaging.models import Study
from portal import regions
from portal.models import Tenant, default_ae_title
from portal.onboarding import countries
from portal.onboarding.invitations import create_invitation, send_invitation
from portal.onboarding.models import SKIPPABLE_STEPS, ClinicRequest, SkippedStep
from portal.services import create_tenant
from portal.tenancy import tenant_scope

# Simple abuse limits of the public request page: a few requests waiting per e-mail address, and per
# source address in a day. An operator reads each request, so these only keep the queue readable.
MAX_PENDING_PER_EMAIL = 3
MAX_REQUESTS_PER_ADDRESS_PER_DAY = 5


class RequestThrottled(Exception):
    pass


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot be a new clinic's address, or None. Its AE title (the slug upper-cased) must be
    free too: the DIMSE listener routes by it."""
    if Tenant.objects.filter(slug=slug).exists():
        return "This address is taken: choose another."
    if ClinicRequest.objects.filter(slug=slug, status=ClinicRequest.Status.PENDING).exists():
        return "A request for this address is already waiting: choose another."
    if Tenant.objects.filter(ae_title=default_ae_title(slug)).exists():
        return "A clinic with a very similar address exists (same DICOM AE title): choose another."
    return None


def throttle_reason(contact_email: str, source_address: str | None) -> str | None:
    pending = ClinicRequest.objects.filter(
        contact_email__iexact=contact_email, status=ClinicRequest.Status.PENDING
    ).count()
    if pending >= MAX_PENDING_PER_EMAIL:
        return (
            f"{MAX_PENDING_PER_EMAIL} requests from this e-mail address are already waiting for a decision. "
            "We will write to you once they are decided."
        )
    if source_address:
        recent = ClinicRequest.objects.filter(
            source_address=source_address, created_at__gte=timezone.now() - timedelta(days=1)
        ).count()
        if recent >= MAX_REQUESTS_PER_ADDRESS_PER_DAY:
            return "Too many requests came from your network today. Try again tomorrow."
    return None


def request_clinic(
    *,
    clinic_name: str,
    country: str,
    slug: str,
    contact_name: str,
    contact_email: str,
    privacy_contact_name: str,
    privacy_contact_email: str,
    request: HttpRequest | None = None,
    source_address: str | None = None,
) -> ClinicRequest:
    """Record a clinic's request to join. Raises RequestThrottled past the abuse limits and
    ValidationError for a country Palisade cannot serve or an address that is taken."""
    reason = throttle_reason(contact_email, source_address)
    if reason:
        raise RequestThrottled(reason)
    jurisdiction = countries.jurisdiction_of_country(country)
    if jurisdiction is None or not countries.regions_of_jurisdiction(jurisdiction):
        raise ValidationError({"country": "Palisade cannot hold data in this country's jurisdiction yet."})
    problem = slug_problem(slug)
    if problem:
        raise ValidationError({"slug": problem})
    clinic_request = ClinicRequest.objects.create(
        clinic_name=clinic_name,
        country=country.upper(),
        jurisdiction=jurisdiction,
        slug=slug,
        contact_name=contact_name,
        contact_email=contact_email.lower(),
        privacy_contact_name=privacy_contact_name,
        privacy_contact_email=privacy_contact_email.lower(),
        source_address=source_address,
    )
    audit.record(
        AuditAction.CLINIC_REQUESTED,
        request=request,
        object_type="clinic_request",
        object_ids=[str(clinic_request.pk)],
        details={"slug": slug, "country": clinic_request.country, "jurisdiction": jurisdiction},
    )
    return clinic_request


def approve_request(
    clinic_request: ClinicRequest,
    *,
    operator: User,
    request: HttpRequest,
    accept_url_of: Callable[[str], str],
) -> Tenant:
    """Create the clinic (home region: the first configured region of its jurisdiction), invite its
    contact as the clinic admin, and e-mail them the link. `accept_url_of(token)` makes the link."""
    with transaction.atomic():
        locked = ClinicRequest.objects.select_for_update().get(pk=clinic_request.pk)
        if locked.status != ClinicRequest.Status.PENDING:
            raise ValidationError(f"The request for {locked.slug} was already {locked.get_status_display()}.")
        home_regions = countries.regions_of_jurisdiction(locked.jurisdiction)
        if not home_regions:
            raise ValidationError(f"No storage region is configured for jurisdiction {locked.jurisdiction}.")
        tenant = create_tenant(locked.slug, locked.clinic_name, region=home_regions[0])
        tenant.country = locked.country
        tenant.privacy_contact_name = locked.privacy_contact_name
        tenant.privacy_contact_email = locked.privacy_contact_email
        tenant.save(update_fields=["country", "privacy_contact_name", "privacy_contact_email"])
        locked.status = ClinicRequest.Status.APPROVED
        locked.decided_at = timezone.now()
        locked.decided_by = operator
        locked.tenant = tenant
        locked.save(update_fields=["status", "decided_at", "decided_by", "tenant"])
        invitation, token = create_invitation(
            tenant, locked.contact_email, Role.TENANT_ADMIN, invited_by=None, request=request
        )
        audit.record(
            AuditAction.CLINIC_APPROVED,
            request=request,
            tenant=tenant,
            actor_role="platform_operator",
            object_type="clinic_request",
            object_ids=[str(locked.pk)],
            details={"slug": tenant.slug, "home_region": tenant.home_region, "invitation": invitation.pk},
        )
    send_invitation(invitation, token, accept_url_of(token), contact_name=locked.contact_name)
    clinic_request.refresh_from_db()
    return tenant


def decline_request(clinic_request: ClinicRequest, *, operator: User, request: HttpRequest) -> None:
    """Decline the request and tell the contact, politely."""
    with transaction.atomic():
        locked = ClinicRequest.objects.select_for_update().get(pk=clinic_request.pk)
        if locked.status != ClinicRequest.Status.PENDING:
            raise ValidationError(f"The request for {locked.slug} was already {locked.get_status_display()}.")
        locked.status = ClinicRequest.Status.DECLINED
        locked.decided_at = timezone.now()
        locked.decided_by = operator
        locked.save(update_fields=["status", "decided_at", "decided_by"])
        audit.record(
            AuditAction.CLINIC_DECLINED,
            request=request,
            actor_role="platform_operator",
            object_type="clinic_request",
            object_ids=[str(locked.pk)],
            details={"slug": locked.slug},
        )
    context = {"clinic_request": locked}
    send_mail(
        " ".join(render_to_string("onboarding/declined_subject.txt", context).split()),
        render_to_string("onboarding/declined_email.txt", context),
        None,
        [locked.contact_email],
    )
    clinic_request.refresh_from_db()


class RegionLocked(Exception):
    """The clinic already holds studies: their copies are where the current regions put them."""


def region_choices(tenant: Tenant) -> list[str]:
    """The configured regions of the clinic's jurisdiction: the only ones it may choose."""
    return countries.regions_of_jurisdiction(tenant.jurisdiction)


def choose_region(
    tenant: Tenant, home_region: str, replica_regions: list[str], *, request: HttpRequest
) -> None:
    """Set the clinic's home and replica regions, inside its jurisdiction, while it holds no study.
    Raises RegionLocked once it holds one, ValidationError for a region outside the jurisdiction."""
    allowed = region_choices(tenant)
    for region in [home_region, *replica_regions]:
        if region not in allowed:
            raise ValidationError(
                f"Region {region!r} is not one of your jurisdiction's ({tenant.jurisdiction}): "
                f"{', '.join(allowed)}."
            )
    regions.validate_residency(home_region, replica_regions)
    with tenant_scope(tenant), transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if Study.objects.exists():
            raise RegionLocked(
                "The home region can no longer be changed: the clinic already holds studies, stored in "
                f"{locked.home_region}. Ask the platform operator if they must move."
            )
        before = {"home_region": locked.home_region, "replica_regions": list(locked.replica_regions)}
        locked.home_region = home_region
        locked.replica_regions = list(replica_regions)
        locked.save(update_fields=["home_region", "replica_regions"])
        audit.record(
            AuditAction.REGION_CHOSEN,
            request=request,
            tenant=tenant,
            object_type="tenant",
            object_ids=[tenant.slug],
            details={"home_region": home_region, "replica_regions": list(replica_regions), "before": before},
        )
    tenant.home_region, tenant.replica_regions = home_region, list(replica_regions)


def skip_step(tenant: Tenant, step: str, *, request: HttpRequest) -> None:
    if step not in SKIPPABLE_STEPS:
        raise ValidationError(f"The step {step!r} cannot be skipped.")
    with tenant_scope(tenant):
        _, created = SkippedStep.objects.get_or_create(
            tenant=tenant, step=step, defaults={"skipped_by": request.user}
        )
    if created:
        # No audit action of its own: an administrative change of the clinic's onboarding.
        audit.record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            tenant=tenant,
            object_type="onboarding_step",
            object_ids=[step],
            details={"operation": "skipped"},
        )


class NotReady(Exception):
    pass


def go_live(tenant: Tenant, *, request: HttpRequest) -> None:
    """Mark the clinic live once every required step is done; NotReady names those left."""
    from portal.onboarding.selectors import checklist

    steps_left = [step for step in checklist(tenant).steps if not step.done]
    if steps_left:
        raise NotReady("Finish these steps first: " + "; ".join(step.label for step in steps_left) + ".")
    with transaction.atomic():
        updated = Tenant.objects.filter(pk=tenant.pk, live_at__isnull=True).update(live_at=timezone.now())
        if updated:
            audit.record(
                AuditAction.CLINIC_WENT_LIVE,
                request=request,
                tenant=tenant,
                object_type="tenant",
                object_ids=[tenant.slug],
            )
    tenant.refresh_from_db(fields=["live_at"])
