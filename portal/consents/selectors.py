"""Reading consent state: the current decision of a patient per purpose, and who may see it.

Every function expects the patient's clinic scope (portal.tenancy.tenant_scope), as the request's
middleware or the caller sets it, except `patient_records_of`, which opens each clinic's scope itself.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import Membership, User
from accounts.roles import Role
from imaging.models import Patient
from portal.consents.models import ConsentDecision, ConsentPurpose, ConsentRequirement, ConsentText
from portal.models import Tenant
from portal.tenancy import tenant_scope


def current_text(purpose: str) -> ConsentText | None:
    """The latest published version of the scoped clinic's text for `purpose`."""
    return ConsentText.objects.filter(purpose=purpose).order_by("-version").first()


def current_decision(patient: Patient, purpose: str) -> ConsentDecision | None:
    """The patient's latest decision for `purpose`, which is the one in force."""
    return (
        ConsentDecision.objects.filter(patient=patient, purpose=purpose)
        .select_related("text")
        .order_by("-decided_at", "-pk")
        .first()
    )


def consented_patients(purpose: str) -> QuerySet[Patient]:
    """The scoped clinic's patients whose latest decision for `purpose` is a grant: what a bulk job (the
    research export of issue 9) filters its selection by, in one query."""
    latest = ConsentDecision.objects.filter(patient=OuterRef("pk"), purpose=purpose).order_by(
        "-decided_at", "-pk"
    )
    return Patient.objects.annotate(consent_granted=Subquery(latest.values("granted")[:1])).filter(
        consent_granted=True
    )


def requirement(tenant: Tenant) -> ConsentRequirement:
    """The clinic's settings, or the defaults (an unsaved row) when it never changed them."""
    return ConsentRequirement.objects.filter(tenant=tenant).first() or ConsentRequirement(tenant=tenant)


@dataclass(frozen=True)
class ConsentState:
    """One purpose for one patient: the text in force, and where the patient stands."""

    purpose: str
    label: str
    text: ConsentText | None
    decision: ConsentDecision | None
    history: list[ConsentDecision] = field(default_factory=list)

    @property
    def granted(self) -> bool:
        return self.decision is not None and self.decision.granted

    @property
    def decided_at(self) -> datetime | None:
        return self.decision.decided_at if self.decision is not None else None

    @property
    def newer_text_published(self) -> bool:
        """Granted on an earlier version than the one now published: still in force, but the patient
        has not read the current words."""
        return self.granted and self.text is not None and self.decision.text.version < self.text.version


def consent_summary(patient: Patient, *, with_history: bool = False) -> list[ConsentState]:
    """Where `patient` stands on each purpose of their clinic, in the order of ConsentPurpose."""
    texts: dict[str, ConsentText] = {}
    for text in ConsentText.objects.order_by("version"):
        texts[text.purpose] = text
    decisions = list(
        ConsentDecision.objects.filter(patient=patient).select_related("text").order_by("-decided_at", "-pk")
    )
    states = []
    for purpose in ConsentPurpose:
        history = [decision for decision in decisions if decision.purpose == purpose]
        states.append(
            ConsentState(
                purpose=purpose.value,
                label=purpose.label,
                text=texts.get(purpose.value),
                decision=history[0] if history else None,
                history=history if with_history else [],
            )
        )
    return states


@dataclass(frozen=True)
class PatientRecord:
    tenant: Tenant
    patient: Patient
    states: list[ConsentState]


def patient_records_of(user: User) -> list[PatientRecord]:
    """The user's own Patient records in every clinic where they are a patient, each with its consent
    state and history. Only records linked to the account are ever loaded."""
    records = []
    memberships = Membership.objects.filter(
        user=user, role=Role.PATIENT, tenant__is_active=True
    ).select_related("tenant")
    for member in memberships.order_by("tenant__name"):
        with tenant_scope(member.tenant):
            for patient in Patient.objects.filter(account=user).order_by("pk"):
                records.append(
                    PatientRecord(member.tenant, patient, consent_summary(patient, with_history=True))
                )
    return records
