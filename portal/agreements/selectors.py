"""What the agreements page and banner show: per required kind, its state, the text to read, history."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from portal.agreements.models import AgreementAcceptance, AgreementKind, AgreementText
from portal.agreements.services import EXPIRY_WARNING, current_text, in_force, required_kinds
from portal.models import Tenant
from portal.tenancy import tenant_scope


@dataclass(frozen=True)
class AgreementStatus:
    kind: str
    label: str
    # "in_force", "expiring" (within 30 days), "expired" (accepted once, no longer) or "missing".
    state: str
    current: AgreementText | None
    acceptance: AgreementAcceptance | None
    days_left: int | None
    history: list[AgreementAcceptance]

    @property
    def newer_version_published(self) -> bool:
        """In force, but for an older version than the one now published: accepting it again renews."""
        return (
            self.acceptance is not None
            and self.current is not None
            and self.acceptance.text.version < self.current.version
        )

    @property
    def blocks_ingestion(self) -> bool:
        return self.state in ("missing", "expired")


def agreement_statuses(tenant: Tenant, at: datetime | None = None) -> list[AgreementStatus]:
    """One status per kind `tenant` requires, in the order of the setting."""
    at = at or timezone.now()
    active = in_force(tenant, at)
    kinds = required_kinds(tenant)
    with tenant_scope(tenant):
        rows = list(
            AgreementAcceptance.objects.filter(tenant=tenant, text__kind__in=kinds).select_related("text")
        )
    statuses = []
    for kind in kinds:
        acceptance = active.get(kind)
        history = [row for row in rows if row.text.kind == kind]
        days_left = None
        if acceptance is not None:
            days_left = (acceptance.expires_at - at).days
            state = "expiring" if acceptance.expires_at - at <= EXPIRY_WARNING else "in_force"
        else:
            state = "expired" if any(row.signed_at <= at for row in history) else "missing"
        statuses.append(
            AgreementStatus(
                kind=kind,
                label=AgreementKind(kind).label,
                state=state,
                current=current_text(kind),
                acceptance=acceptance,
                days_left=days_left,
                history=history,
            )
        )
    return statuses
