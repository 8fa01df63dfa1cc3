"""The compliance report's figures, each computed from live data at the moment the report is asked for.

Every selector is a plain function of (tenant, now) and must be called inside the tenant's scope
(portal.tenancy.tenant_scope), as a page of the clinic is. Figures are counts and identifiers only
(internal IDs, UIDs, region names): the report is printed, mailed and handed to auditors, so it
holds no PHI and no staff or patient names. docs/compliance.md says which safeguard each serves.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import Membership, SecurityPolicy
from accounts.roles import Role
from audit.alerts.models import Alert, AlertKind
from audit.chain import chain_of, verify_chain
from audit.checkpoints import checkpoint_break
from audit.models import AuditAction, AuditChainHead, AuditCheckpoint, AuditEvent
from imaging.crypto.models import StudyKey, TenantKey
from imaging.dimse.models import RemoteAE
from imaging.models import StoredObject
from imaging.replication.models import ObjectCopy, ScrubCursor
from imaging.replication.selectors import ReplicationStatus, replication_status
from imaging.retention.models import DestructionCertificate, ErasureRequest, LegalHold, RetentionRule
from imaging.retention.rules import expired_studies
from portal.agreements import services as agreements
from portal.agreements.models import AgreementKind
from portal.consents.models import ConsentDecision, ConsentPurpose
from portal.models import Tenant

# An account nobody signed in to for this long is one to review (HIPAA 164.308(a)(3)(ii)(C), 164.312(a)(1)).
STALE_AFTER = timedelta(days=90)


# --- Person or entity authentication, access control --------------------------------------------------


@dataclass(frozen=True)
class RoleCoverage:
    """Active members of one role, and how many have a confirmed authenticator app or passkey (backup
    codes alone do not count: they are the way back in, not a second factor used day to day)."""

    role: str
    label: str
    members: int
    with_mfa: int
    required: bool

    @property
    def without_mfa(self) -> int:
        return self.members - self.with_mfa

    @property
    def percent(self) -> int:
        return round(100 * self.with_mfa / self.members) if self.members else 100


def mfa_coverage(tenant: Tenant, now: datetime) -> list[RoleCoverage]:
    """Per role of the clinic (roles without members left out), its MFA coverage, and whether the
    clinic's security policy requires MFA of that role."""
    stored = SecurityPolicy.objects.filter(tenant=tenant).first()
    required_roles = set((stored or SecurityPolicy(tenant=tenant)).mfa_required_roles or [])
    member_ids = _active_members(tenant).values("user_id")
    enrolled_ids = set(
        TOTPDevice.objects.filter(confirmed=True, user__in=member_ids).values_list("user_id", flat=True)
    ) | set(
        WebAuthnCredential.objects.filter(confirmed=True, user__in=member_ids).values_list(
            "user_id", flat=True
        )
    )
    members = Counter()
    covered = Counter()
    for role, user_id in _active_members(tenant).values_list("role", "user_id"):
        members[role] += 1
        covered[role] += user_id in enrolled_ids
    return [
        RoleCoverage(role.value, role.label, members[role], covered[role], role.value in required_roles)
        for role in Role
        if members[role]
    ]


@dataclass(frozen=True)
class StaleAccount:
    user_id: int
    role: str
    last_sign_in: datetime | None


def stale_accounts(tenant: Tenant, now: datetime) -> list[StaleAccount]:
    """Active members with no sign-in for STALE_AFTER: signed in last before then, or never signed in
    though they joined before then. Named by user ID only."""
    cutoff = now - STALE_AFTER
    rows = (
        _active_members(tenant)
        .filter(Q(user__last_login__lt=cutoff) | Q(user__last_login__isnull=True, created_at__lt=cutoff))
        .order_by("user_id")
        .values_list("user_id", "role", "user__last_login")
    )
    return [StaleAccount(user_id, role, last) for user_id, role, last in rows]


def _active_members(tenant: Tenant):
    return Membership.objects.filter(tenant=tenant, user__is_active=True)


# --- Encryption at rest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptionStatus:
    """Every stored object of the clinic: `sealed` ones have their data key wrapped by their study's key
    (which shredding destroys) and their ciphertext hash recorded; `awaiting_index` ones are encrypted
    and hashed but their key is still wrapped by the tenant key until indexing moves it (minutes);
    `unsealed` is everything else, which must be none."""

    objects: int
    sealed: int
    awaiting_index: int
    awaiting_index_oldest: datetime | None
    tenant_key_version: int | None
    tenant_key_created_at: datetime | None
    study_keys: int
    study_keys_on_current_version: int

    @property
    def unsealed(self) -> int:
        return self.objects - self.sealed - self.awaiting_index


def encryption_status(tenant: Tenant, now: datetime) -> EncryptionStatus:
    objects = StoredObject.objects.all()
    hashed = Q(ciphertext_sha256__regex=r"^[0-9a-f]{64}$", plaintext_sha256__regex=r"^[0-9a-f]{64}$")
    sealed = objects.filter(
        hashed,
        wrapping_tenant_key__isnull=True,
        instance__series__study__data_key__isnull=False,
    ).exclude(wrapped_key=b"")
    awaiting = objects.filter(hashed, wrapping_tenant_key__isnull=False).exclude(wrapped_key=b"")
    current = TenantKey.objects.order_by("-version").first()
    study_keys = StudyKey.objects.all()
    return EncryptionStatus(
        objects=objects.count(),
        sealed=sealed.count(),
        awaiting_index=awaiting.count(),
        awaiting_index_oldest=awaiting.order_by("created_at").values_list("created_at", flat=True).first(),
        tenant_key_version=current.version if current else None,
        tenant_key_created_at=current.created_at if current else None,
        study_keys=study_keys.count(),
        study_keys_on_current_version=study_keys.filter(tenant_key=current).count() if current else 0,
    )


# --- Integrity: scrub, replication, residency ------------------------------------------------------------


@dataclass(frozen=True)
class ScrubEvidence:
    """Where the clinic's integrity scrub stands (imaging.replication.scrub): the counts are those of
    the pass in progress, or of the last one when none is in progress."""

    ever_ran: bool
    pass_started_at: datetime | None
    pass_finished_at: datetime | None
    in_progress: bool
    checked: int
    repaired: int
    unrepairable: int


def scrub_evidence(tenant: Tenant, now: datetime) -> ScrubEvidence:
    cursor = ScrubCursor.objects.filter(tenant=tenant).first()
    if cursor is None:
        return ScrubEvidence(False, None, None, False, 0, 0, 0)
    return ScrubEvidence(
        ever_ran=True,
        pass_started_at=cursor.pass_started_at,
        pass_finished_at=cursor.pass_finished_at,
        in_progress=cursor.last_object_id is not None,
        checked=cursor.checked,
        repaired=cursor.repaired,
        unrepairable=cursor.unrepairable,
    )


def replication(tenant: Tenant, now: datetime) -> ReplicationStatus:
    """The lag the storage status page shows (the recovery point), and the copies' states."""
    return replication_status(tenant, now=now)


@dataclass(frozen=True)
class RegionStorage:
    region: str
    jurisdiction: str
    objects: int
    copies: int
    bytes: int
    allowed: bool


def storage_by_region(tenant: Tenant, now: datetime) -> list[RegionStorage]:
    """Ciphertext bytes held in each region: home copies (stored objects) and verified replica copies.
    `allowed` is false for a region outside the clinic's residency, which must never hold anything."""
    homes = {
        row["region"]: row
        for row in StoredObject.objects.values("region").annotate(n=Count("pk"), size=Sum("ciphertext_size"))
    }
    copies = {
        row["region"]: row
        for row in ObjectCopy.objects.filter(state=ObjectCopy.State.OK)
        .values("region")
        .annotate(n=Count("pk"), size=Sum("stored_object__ciphertext_size"))
    }
    allowed = [tenant.home_region, *tenant.replica_regions]
    names = allowed + sorted((set(homes) | set(copies)) - set(allowed))
    result = []
    for region in names:
        home, copy = homes.get(region, {}), copies.get(region, {})
        result.append(
            RegionStorage(
                region=region,
                jurisdiction=_jurisdiction(region),
                objects=home.get("n", 0),
                copies=copy.get("n", 0),
                bytes=(home.get("size") or 0) + (copy.get("size") or 0),
                allowed=region in allowed and _jurisdiction(region) == tenant.jurisdiction,
            )
        )
    return result


def _jurisdiction(region: str) -> str:
    return settings.PALISADE_STORAGE.get(region, {}).get("jurisdiction", "unknown")


# --- Backups ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreDrill:
    """The newest restore recorded in this database (BACKUP_RESTORED, written by the `restore`
    command with its measured RTO). Restores are platform-wide: one drill covers every clinic."""

    backup_id: str
    restored_at: datetime
    rto_seconds: float | None
    objects_checked: int | None
    problems: int | None


def last_restore_drill(tenant: Tenant, now: datetime) -> RestoreDrill | None:
    event = (
        AuditEvent.objects.filter(action=AuditAction.BACKUP_RESTORED, occurred_at__lte=now)
        .order_by("-occurred_at", "-id")
        .first()
    )
    if event is None:
        return None
    details = event.details or {}
    return RestoreDrill(
        backup_id=(event.object_ids or [""])[0],
        restored_at=event.occurred_at,
        rto_seconds=details.get("rto_seconds"),
        objects_checked=details.get("objects_checked"),
        problems=details.get("problems"),
    )


# --- Audit controls --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEvidence:
    """The clinic's audit hash chain verified from its first event, against its head and every signed
    checkpoint, as `verify_audit_chain --tenant` does."""

    chain: str
    events: int
    intact: bool
    problem: str
    checkpoint_sequence: int | None
    checkpoint_signed_at: datetime | None


def audit_chain(tenant: Tenant, now: datetime) -> ChainEvidence:
    chain = chain_of(tenant.pk)
    state = verify_chain(chain)
    checkpoints = list(AuditCheckpoint.objects.filter(chain=chain))
    broken = state.first_break or (checkpoint_break(state, checkpoints) if checkpoints else None)
    head = AuditChainHead.objects.filter(chain=chain).first()
    problem = str(broken) if broken else ""
    if not problem and head is not None and head.sequence > state.events:
        problem = f"the chain ends at event {state.events} but its head is at {head.sequence}"
    newest = max(checkpoints, key=lambda checkpoint: checkpoint.sequence, default=None)
    return ChainEvidence(
        chain=chain,
        events=state.events,
        intact=not problem,
        problem=problem,
        checkpoint_sequence=newest.sequence if newest else None,
        checkpoint_signed_at=newest.signed_at if newest else None,
    )


@dataclass(frozen=True)
class OpenAlerts:
    total: int
    by_severity: dict[str, int]
    by_kind: dict[str, int]
    oldest: datetime | None

    @property
    def kinds(self) -> list[tuple[str, str, int]]:
        labels = dict(AlertKind.choices)
        return [(kind, labels.get(kind, kind), count) for kind, count in sorted(self.by_kind.items())]


def open_alerts(tenant: Tenant, now: datetime) -> OpenAlerts:
    alerts = Alert.objects.filter(tenant=tenant, acknowledged_at__isnull=True, created_at__lte=now)
    by_severity = dict(
        alerts.values_list("severity").annotate(n=Count("pk")).order_by().values_list("severity", "n")
    )
    by_kind = dict(alerts.values_list("kind").annotate(n=Count("pk")).order_by().values_list("kind", "n"))
    return OpenAlerts(
        total=sum(by_severity.values()),
        by_severity=by_severity,
        by_kind=by_kind,
        oldest=alerts.order_by("created_at").values_list("created_at", flat=True).first(),
    )


# --- Transmission security ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransmissionEvidence:
    https_redirect: bool
    hsts_seconds: int
    secure_cookies: bool
    peers_active: int
    peers_with_tls_subject: int
    syslog_tls: bool


def transmission(tenant: Tenant, now: datetime) -> TransmissionEvidence:
    """How the portal's transport is configured, and the clinic's DICOM peers: a peer bound to its TLS
    certificate's subject is accepted only over TLS with that certificate (imaging.dimse)."""
    peers = RemoteAE.objects.filter(is_active=True)
    return TransmissionEvidence(
        https_redirect=bool(settings.SECURE_SSL_REDIRECT),
        hsts_seconds=int(settings.SECURE_HSTS_SECONDS or 0),
        secure_cookies=bool(settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE),
        peers_active=peers.count(),
        peers_with_tls_subject=peers.exclude(tls_subject="").count(),
        syslog_tls=bool(settings.PALISADE_AUDIT_SYSLOG_HOST),
    )


# --- Agreements, consents, retention ---------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementRow:
    """One agreement kind: required or not, and the acceptance in force, if any (no signer named)."""

    kind: str
    label: str
    required: bool
    version: int | None
    signed_at: datetime | None
    expires_at: datetime | None
    days_left: int | None

    @property
    def state(self) -> str:
        if self.version is None:
            return "missing" if self.required else "not signed"
        return "expiring" if self.days_left is not None and self.days_left <= 30 else "in force"


def agreement_rows(tenant: Tenant, now: datetime) -> list[AgreementRow]:
    required = agreements.required_kinds(tenant)
    active = agreements.in_force(tenant, now)
    rows = []
    for kind in AgreementKind:
        acceptance = active.get(kind.value)
        if acceptance is None and kind.value not in required:
            continue
        rows.append(
            AgreementRow(
                kind=kind.value,
                label=kind.label,
                required=kind.value in required,
                version=acceptance.text.version if acceptance else None,
                signed_at=acceptance.signed_at if acceptance else None,
                expires_at=acceptance.expires_at if acceptance else None,
                days_left=(acceptance.expires_at - now).days if acceptance else None,
            )
        )
    return rows


@dataclass(frozen=True)
class ConsentCounts:
    """Patients by where they stand for one purpose: their latest decision grants, or withdrew."""

    purpose: str
    label: str
    granted: int
    withdrawn: int
    decisions: int


def consent_counts(tenant: Tenant, now: datetime) -> list[ConsentCounts]:
    latest: dict[tuple[int, str], bool] = {}
    decisions = Counter()
    rows = (
        ConsentDecision.objects.filter(decided_at__lte=now)
        .order_by("decided_at", "pk")
        .values_list("patient_id", "purpose", "granted")
    )
    # In order, so that each (patient, purpose) ends on its latest decision, the one in force.
    for patient_id, purpose, granted in rows.iterator(chunk_size=2000):
        latest[(patient_id, purpose)] = granted
        decisions[purpose] += 1
    granted = Counter(purpose for (_, purpose), state in latest.items() if state)
    withdrawn = Counter(purpose for (_, purpose), state in latest.items() if not state)
    return [
        ConsentCounts(purpose.value, purpose.label, granted[purpose], withdrawn[purpose], decisions[purpose])
        for purpose in ConsentPurpose
    ]


@dataclass(frozen=True)
class RetentionEvidence:
    rules: list[str] = field(default_factory=list)
    overdue: int = 0
    held_past_retention: int = 0
    undated: int = 0
    holds_active: int = 0
    holds_released: int = 0
    erasures_pending: int = 0
    erasure_oldest_pending: datetime | None = None
    destroyed_by_basis: dict[str, int] = field(default_factory=dict)
    last_destruction_at: datetime | None = None


def retention(tenant: Tenant, now: datetime) -> RetentionEvidence:
    """The retention rules in force and what the daily enforcement run has left: studies past their
    retention not destroyed (overdue: none once the run works), those kept by a legal hold, and the
    certificates of destruction the runs and approved erasures issued."""
    expired, undated = expired_studies(tenant, now.date())
    pending = ErasureRequest.objects.filter(state=ErasureRequest.State.PENDING)
    certificates = DestructionCertificate.objects.filter(completed_at__lte=now)
    return RetentionEvidence(
        rules=[str(rule) for rule in RetentionRule.objects.filter(is_active=True).order_by("modality")],
        overdue=sum(not item.held for item in expired),
        held_past_retention=sum(item.held for item in expired),
        undated=undated,
        holds_active=LegalHold.objects.filter(released_at__isnull=True).count(),
        holds_released=LegalHold.objects.filter(released_at__isnull=False).count(),
        erasures_pending=pending.count(),
        erasure_oldest_pending=pending.order_by("requested_at")
        .values_list("requested_at", flat=True)
        .first(),
        destroyed_by_basis=dict(
            certificates.values_list("basis").annotate(n=Count("pk")).order_by().values_list("basis", "n")
        ),
        last_destruction_at=certificates.order_by("-completed_at")
        .values_list("completed_at", flat=True)
        .first(),
    )


# --- Everything, once --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    tenant: Tenant
    now: datetime
    mfa: list[RoleCoverage]
    stale: list[StaleAccount]
    encryption: EncryptionStatus
    scrub: ScrubEvidence
    replication: ReplicationStatus
    storage: list[RegionStorage]
    restore: RestoreDrill | None
    chain: ChainEvidence
    alerts: OpenAlerts
    transmission: TransmissionEvidence
    agreements: list[AgreementRow]
    consents: list[ConsentCounts]
    retention: RetentionEvidence

    @property
    def members(self) -> int:
        return sum(row.members for row in self.mfa)

    @property
    def members_with_mfa(self) -> int:
        return sum(row.with_mfa for row in self.mfa)

    @property
    def residency_violations(self) -> int:
        return sum(row.objects + row.copies for row in self.storage if not row.allowed)


def collect(tenant: Tenant, now: datetime) -> Evidence:
    """Every figure of the report, computed now. Inside the tenant's scope."""
    return Evidence(
        tenant=tenant,
        now=now,
        mfa=mfa_coverage(tenant, now),
        stale=stale_accounts(tenant, now),
        encryption=encryption_status(tenant, now),
        scrub=scrub_evidence(tenant, now),
        replication=replication(tenant, now),
        storage=storage_by_region(tenant, now),
        restore=last_restore_drill(tenant, now),
        chain=audit_chain(tenant, now),
        alerts=open_alerts(tenant, now),
        transmission=transmission(tenant, now),
        agreements=agreement_rows(tenant, now),
        consents=consent_counts(tenant, now),
        retention=retention(tenant, now),
    )
