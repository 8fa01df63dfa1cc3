"""What the onboarding pages show: the checklist, computed live from the clinic's state each time."""

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.mfa.selectors import has_second_factor
from accounts.models import Membership
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.dimse.models import RemoteAE
from imaging.models import Study
from portal.agreements.models import AgreementKind
from portal.agreements.services import missing_agreements
from portal.models import Tenant
from portal.onboarding.models import Invitation, OnboardingStep, SkippedStep
from portal.tenancy import tenant_scope


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    detail: str
    url: str
    skipped: bool = False
    skippable: bool = False


@dataclass(frozen=True)
class Checklist:
    tenant: Tenant
    steps: list[Step] = field(default_factory=list)

    @property
    def steps_left(self) -> int:
        return sum(1 for step in self.steps if not step.done)

    @property
    def ready(self) -> bool:
        return self.steps_left == 0


def _url(name: str, tenant: Tenant) -> str:
    return reverse(name, kwargs={"tenant_slug": tenant.slug})


def _agreements_url(tenant: Tenant) -> str:
    try:
        return _url("agreements", tenant)
    except NoReverseMatch:
        # The agreements page (portal.agreements) not installed yet: its address is the contract's.
        return f"/t/{tenant.slug}/agreements/"


def _account_step(tenant: Tenant) -> Step:
    admins = [
        m.user
        for m in Membership.objects.filter(tenant=tenant, role=Role.TENANT_ADMIN).select_related("user")
    ]
    unready = [user for user in admins if not user.has_usable_password() or not has_second_factor(user)]
    if unready:
        detail = f"Clinic admins without a password or second factor: {len(unready)}."
    else:
        detail = f"Clinic admins, each with a password and a second factor: {len(admins)}."
    return Step(
        OnboardingStep.ACCOUNT,
        OnboardingStep.ACCOUNT.label,
        bool(admins) and not unready,
        detail,
        reverse("mfa:security"),
    )


def _agreements_step(tenant: Tenant) -> Step:
    missing = missing_agreements(tenant)

    detail = (
        "Every agreement your jurisdiction requires is in force."
        if not missing
        else "To accept: " + ", ".join(AgreementKind(kind).label for kind in missing) + "."
    )
    return Step(
        OnboardingStep.AGREEMENTS,
        OnboardingStep.AGREEMENTS.label,
        not missing,
        detail,
        _agreements_url(tenant),
    )


def _region_step(tenant: Tenant) -> Step:
    chosen = (
        tenant.live_at is not None
        or AuditEvent.objects.filter(tenant=tenant, action=AuditAction.REGION_CHOSEN).exists()
    )
    detail = f"Home region {tenant.home_region}" + (
        f", replicas in {', '.join(tenant.replica_regions)}." if tenant.replica_regions else ", no replica."
    )
    if not chosen:
        detail = f"Proposed: {detail} Confirm or change it."
    return Step(
        OnboardingStep.REGION, OnboardingStep.REGION.label, chosen, detail, _url("onboarding-region", tenant)
    )


def checklist(tenant: Tenant) -> Checklist:
    with tenant_scope(tenant):
        skipped = set(SkippedStep.objects.values_list("step", flat=True))
        peers = RemoteAE.objects.filter(is_active=True).count()
        studies = Study.objects.exists()
        pending_invitations = Invitation.objects.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).count()
    others = (
        Membership.objects.filter(tenant=tenant).exclude(role__in=[Role.TENANT_ADMIN, Role.PATIENT]).count()
    )
    admins = Membership.objects.filter(tenant=tenant, role=Role.TENANT_ADMIN).count()
    members_done = others > 0 or admins > 1 or pending_invitations > 0
    steps = [
        _account_step(tenant),
        _agreements_step(tenant),
        _region_step(tenant),
        Step(
            OnboardingStep.PEERS,
            OnboardingStep.PEERS.label,
            peers > 0 or OnboardingStep.PEERS in skipped,
            f"{peers} peer{'s' if peers != 1 else ''} registered." if peers else "No DICOM peer yet.",
            _url("dicom-peers", tenant),
            skipped=OnboardingStep.PEERS in skipped and not peers,
            skippable=True,
        ),
        Step(
            OnboardingStep.MEMBERS,
            OnboardingStep.MEMBERS.label,
            members_done or OnboardingStep.MEMBERS in skipped,
            f"{others + admins} member{'s' if others + admins != 1 else ''} of staff, "
            f"{pending_invitations} invitation{'s' if pending_invitations != 1 else ''} pending.",
            _url("clinic-members", tenant),
            skipped=OnboardingStep.MEMBERS in skipped and not members_done,
            skippable=True,
        ),
        Step(
            OnboardingStep.FIRST_STUDY,
            OnboardingStep.FIRST_STUDY.label,
            studies,
            "A study is in the clinic's index."
            if studies
            else "Upload a study, or send one from a DICOM peer.",
            _url("upload", tenant),
        ),
    ]
    return Checklist(tenant=tenant, steps=steps)


def dashboard_banner(tenant: Tenant, *, may_manage: bool) -> dict | None:
    """The "finish setting up" banner of the clinic dashboard: for clinic admins, until go-live."""
    if not may_manage or tenant.live_at is not None:
        return None
    return {"steps_left": checklist(tenant).steps_left, "url": _url("onboarding-checklist", tenant)}
