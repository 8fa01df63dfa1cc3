"""Legal holds: while one is active on a study or its patient, nothing destroys the study."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from accounts.models import User
from audit.models import AuditAction
from imaging.models import Patient, Study
from imaging.retention.models import LegalHold
from portal.models import Tenant


class LegalHoldError(Exception):
    """A hold that cannot be placed or released as asked (the message says why)."""


def place_hold(
    tenant: Tenant,
    *,
    placed_by: User,
    reason: str,
    patient: Patient | None = None,
    study: Study | None = None,
) -> LegalHold:
    """Hold one patient's studies, or one study. Call inside the tenant's scope."""
    if (patient is None) == (study is None):
        raise LegalHoldError("A legal hold is on a patient or on a study, one of the two.")
    if not reason.strip():
        raise LegalHoldError("A legal hold needs a reason.")
    with transaction.atomic():
        hold = LegalHold.objects.create(
            tenant=tenant,
            patient=patient,
            study=study,
            study_instance_uid=study.study_instance_uid if study else "",
            reason=reason.strip(),
            placed_by=placed_by,
        )
        _audit(AuditAction.LEGAL_HOLD_PLACED, hold, placed_by)
    return hold


def release_hold(hold: LegalHold, *, released_by: User, reason: str) -> LegalHold:
    """End a hold explicitly; it stays on record. Call inside the tenant's scope."""
    if hold.released_at is not None:
        raise LegalHoldError(f"Legal hold {hold.pk} was already released.")
    if not reason.strip():
        raise LegalHoldError("Releasing a legal hold needs a reason.")
    with transaction.atomic():
        hold.released_by, hold.released_at, hold.release_reason = released_by, timezone.now(), reason.strip()
        hold.save(update_fields=["released_by", "released_at", "release_reason"])
        _audit(AuditAction.LEGAL_HOLD_RELEASED, hold, released_by)
    return hold


def active_holds_on(study: Study) -> list[LegalHold]:
    """The active holds that keep `study`: on the study itself or on its patient."""
    return list(
        LegalHold.objects.filter(released_at__isnull=True).filter(
            Q(study=study) | Q(patient_id=study.patient_id)
        )
    )


def held_study_ids(tenant: Tenant) -> set[int]:
    """IDs of the tenant's studies under an active hold (one query for a whole retention run)."""
    active = LegalHold.objects.filter(tenant=tenant, released_at__isnull=True)
    held_patients = active.exclude(patient=None).values("patient_id")
    return set(
        Study.objects.filter(tenant=tenant)
        .filter(Q(pk__in=active.exclude(study=None).values("study_id")) | Q(patient_id__in=held_patients))
        .values_list("pk", flat=True)
    )


def _audit(action: AuditAction, hold: LegalHold, actor: User) -> None:
    audit.record(
        action,
        tenant=hold.tenant,
        actor=actor,
        object_type="legal_hold",
        object_ids=[str(hold.pk)],
        details={"patient": hold.patient_id, "study": hold.study_instance_uid or None},
    )
