"""Which agreements a clinic needs, which it has in force, and the gate every ingestion path passes.

Which kinds a clinic needs depends on its home region's jurisdiction
(settings.PALISADE_REQUIRED_AGREEMENTS): a US clinic a BAA, an EU clinic a DPA, every clinic the terms.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from audit import services as audit
from audit.models import AuditAction, Outcome
from portal.agreements.models import AgreementAcceptance, AgreementKind, AgreementText
from portal.compiled_query import DATETIME, INTEGER, CompiledQuery
from portal.models import Tenant
from portal.tenancy import tenant_scope

EXPIRY_WARNING = timedelta(days=30)


class AgreementMissing(Exception):
    """PHI may not enter the clinic: an agreement its jurisdiction requires is not in force."""

    def __init__(self, tenant: Tenant, missing: list[str]) -> None:
        self.tenant = tenant
        self.missing = missing
        names = " and ".join(AgreementKind(kind).label for kind in missing)
        super().__init__(
            f"Ingestion refused: {tenant.name} has no {names} in force. "
            f"A clinic admin can accept it at /t/{tenant.slug}/agreements/."
        )

    @property
    def short_message(self) -> str:
        """The reason in at most 64 characters, for a DIMSE Error Comment (LO, PS3.5 6.2)."""
        kinds = ", ".join(_SHORT_NAMES.get(kind, kind) for kind in self.missing)
        return f"Agreement missing: {kinds}; a clinic admin must accept"[:64]


_SHORT_NAMES = {AgreementKind.BAA: "BAA", AgreementKind.DPA: "DPA", AgreementKind.TERMS: "terms"}


def required_kinds(tenant: Tenant) -> list[str]:
    """The agreement kinds `tenant` must have in force, by its home jurisdiction."""
    rules = settings.PALISADE_REQUIRED_AGREEMENTS
    return list(rules.get(tenant.jurisdiction, rules.get("*", [])))


def current_text(kind: str) -> AgreementText | None:
    """The newest published version of `kind`."""
    return (
        AgreementText.objects.filter(kind=kind, published_at__lte=timezone.now()).order_by("-version").first()
    )


def in_force(tenant: Tenant, at: datetime | None = None) -> dict[str, AgreementAcceptance]:
    """The acceptance in force for each kind `tenant` has signed: the one that lasts longest."""
    with tenant_scope(tenant):
        rows = _acceptances_in_force(tenant, at).select_related("text", "signer").order_by("expires_at")
        return {row.text.kind: row for row in rows}


def missing_agreements(tenant: Tenant, at: datetime | None = None) -> list[str]:
    """The kinds `tenant` needs and has not in force at `at` (now)."""
    required = required_kinds(tenant)
    if not required:
        return []
    with tenant_scope(tenant):
        active = {kind for (kind,) in _KINDS_IN_FORCE.rows(tenant.pk, at or timezone.now())}
    return [kind for kind in required if kind not in active]


def _acceptances_in_force(tenant: Tenant | int, at: datetime | None) -> QuerySet[AgreementAcceptance]:
    at = at or timezone.now()
    return AgreementAcceptance.objects.filter(tenant=tenant, signed_at__lte=at, expires_at__gt=at)


# Asked before every object a clinic sends (assert_may_ingest): the kinds alone, not the rows that
# in_force builds for the pages, compiled once (portal/compiled_query.py).
_KINDS_IN_FORCE = CompiledQuery(
    lambda tenant_id, at: _acceptances_in_force(tenant_id, at).values_list("text__kind"),
    INTEGER,
    DATETIME,
    tenant_owned=True,
)


def assert_may_ingest(
    tenant: Tenant,
    *,
    channel: str = "",
    request=None,
    actor: User | None = None,
    actor_role: str = "",
    origin: dict | None = None,
    source_address: str | None = None,
) -> None:
    """Raise AgreementMissing unless every agreement `tenant` needs is in force. Every ingestion path
    (STOW-RS, C-STORE, upload, import) calls this after authorizing the caller and before it accepts a
    byte.

    With `channel` (the path's name: "stow", "dimse", "upload", "import", ...) the call is an ingestion
    attempt, and a refusal is recorded as STORE_REJECTED, by identifiers only (`origin`: a sender that
    is not a user, such as a DIMSE peer's calling AE title). Without it, it is a mere check."""
    missing = missing_agreements(tenant)
    if not missing:
        return
    if channel:
        audit.record(
            AuditAction.STORE_REJECTED,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role=actor_role,
            outcome=Outcome.FAILURE,
            object_type="tenant",
            object_ids=[tenant.slug],
            details={**(origin or {}), "reason": "agreement_missing", "missing": missing, "channel": channel},
            source_address=source_address,
        )
    raise AgreementMissing(tenant, missing)


@transaction.atomic
def accept(
    tenant: Tenant,
    text: AgreementText,
    *,
    signer: User,
    signer_name: str,
    signer_role: str,
    request=None,
) -> AgreementAcceptance:
    """Record `signer`'s acceptance of `text` for `tenant`, in force for the text's term."""
    now = timezone.now()
    with tenant_scope(tenant):
        acceptance = AgreementAcceptance.objects.create(
            tenant=tenant,
            text=text,
            signer=signer,
            signer_name=signer_name,
            signer_role=signer_role,
            signed_at=now,
            expires_at=now + timedelta(days=text.term_days),
            document_sha256=text.sha256,
        )
    audit.record(
        AuditAction.AGREEMENT_ACCEPTED,
        request=request,
        actor=signer,
        tenant=tenant,
        object_type="agreement",
        object_ids=[f"{text.kind}:v{text.version}"],
        details={"kind": text.kind, "version": text.version, "sha256": text.sha256},
    )
    return acceptance


class AgreementNotPublished(Exception):
    """No text of a kind a clinic needs has been published: nothing to accept."""


def accept_current(
    tenant: Tenant,
    *,
    signer: User,
    signer_name: str,
    signer_role: str,
    kinds: list[str] | None = None,
    request=None,
) -> list[AgreementAcceptance]:
    """Accept the current text of each of `kinds` (default: every kind `tenant` requires), all or none."""
    kinds = required_kinds(tenant) if kinds is None else kinds
    texts = []
    for kind in kinds:
        text = current_text(kind)
        if text is None:
            raise AgreementNotPublished(f"No {AgreementKind(kind).label} has been published yet.")
        texts.append(text)
    with transaction.atomic():
        return [
            accept(
                tenant,
                text,
                signer=signer,
                signer_name=signer_name,
                signer_role=signer_role,
                request=request,
            )
            for text in texts
        ]


@dataclass(frozen=True)
class Expiring:
    acceptance: AgreementAcceptance
    days_left: int


def expiring(tenant: Tenant, at: datetime | None = None) -> list[Expiring]:
    """Agreements in force that end within 30 days, with no later acceptance of the same kind."""
    at = at or timezone.now()
    return [
        Expiring(row, (row.expires_at - at).days)
        for row in in_force(tenant, at).values()
        if row.expires_at - at <= EXPIRY_WARNING
    ]
