"""Consent changes, each audited, and the checks other features ask before acting on a patient's images.

The hooks for other features:
- `require_consent(patient, purpose)` raises ConsentRequired, with a message to show, unless the patient's
  latest decision for `purpose` is a grant. Sharing with a doctor calls `require_consent_to_share`, which
  asks only when the clinic's settings say so (portal.sharing.services.share_with_doctor).
- `has_consent(patient, purpose)` is the yes/no form. The research export (issue 9) must export a patient
  only if `has_consent(patient, ConsentPurpose.RESEARCH_DEIDENTIFIED)` (research always needs consent,
  whatever the clinic's settings), or filter its selection by `selectors.consented_patients(...)`, and
  count those left out in its report.
"""

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from accounts import policy
from accounts.models import User
from audit.models import AuditAction
from imaging.models import Patient
from portal.consents import selectors
from portal.consents.models import ConsentDecision, ConsentPurpose, ConsentRequirement, ConsentText
from portal.models import Tenant
from portal.tenancy import tenant_scope

MAX_TEXT_LENGTH = 20_000


class ConsentRequired(PermissionError):
    """An action needs a consent the patient has not given (or withdrew), with the reason to show."""


class ConsentRefused(ValueError):
    """A consent change that cannot be made, with the reason to show to whoever asked."""


def has_consent(patient: Patient, purpose: ConsentPurpose | str) -> bool:
    """Whether the patient's latest decision for `purpose` is a grant."""
    with tenant_scope(patient.tenant):
        decision = selectors.current_decision(patient, purpose)
    return decision is not None and decision.granted


def require_consent(patient: Patient, purpose: ConsentPurpose | str) -> None:
    """Raise ConsentRequired unless the patient consents to `purpose` now. The message names no patient."""
    if not has_consent(patient, purpose):
        label = ConsentPurpose(purpose).label
        label = label[0].lower() + label[1:]
        raise ConsentRequired(
            f"The patient has not given consent to “{label}”, which this needs. "
            "They can give it on their consents page in the portal."
        )


def require_consent_to_share(patient: Patient) -> None:
    """Sharing with a doctor: refuse without consent when the clinic requires it."""
    with tenant_scope(patient.tenant):
        required = selectors.requirement(patient.tenant).sharing_requires_consent
    if required:
        require_consent(patient, ConsentPurpose.SHARE_WITH_NAMED_DOCTORS)


def publish_text(
    *, tenant: Tenant, purpose: str, text: str, actor: User, request: HttpRequest | None = None
) -> ConsentText:
    """Publish the next version of the clinic's text for `purpose`. Earlier versions stay as they were,
    and decisions made on them keep pointing at them."""
    text = text.strip()
    if purpose not in ConsentPurpose.values:
        raise ConsentRefused(f"Unknown purpose {purpose!r}.")
    if not text:
        raise ConsentRefused("The text is empty: write what the patient agrees to.")
    if len(text) > MAX_TEXT_LENGTH:
        raise ConsentRefused(
            f"The text is {len(text)} characters long; at most {MAX_TEXT_LENGTH} are allowed."
        )
    with transaction.atomic(), tenant_scope(tenant):
        if not policy.can(actor, policy.Action.MANAGE_CONSENTS, tenant):
            raise ConsentRefused("Only the clinic's admins publish consent texts.")
        # Locks the clinic's versions of this purpose so that two admins publishing at once do not both
        # take the same number (the unique constraint would refuse the second anyway).
        latest = ConsentText.objects.select_for_update().filter(purpose=purpose).order_by("-version").first()
        published = ConsentText.objects.create(
            tenant=tenant,
            purpose=purpose,
            version=(latest.version + 1) if latest else 1,
            text=text,
            published_by=actor,
        )
        audit.record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role=policy.membership(actor, tenant).role,
            object_type="consent_text",
            object_ids=[str(published.pk)],
            details={"purpose": purpose, "version": published.version, "change": "published"},
        )
    return published


def set_requirements(
    *, tenant: Tenant, sharing_requires_consent: bool, actor: User, request: HttpRequest | None = None
) -> ConsentRequirement:
    with transaction.atomic(), tenant_scope(tenant):
        if not policy.can(actor, policy.Action.MANAGE_CONSENTS, tenant):
            raise ConsentRefused("Only the clinic's admins change which actions need consent.")
        requirement, _ = ConsentRequirement.objects.update_or_create(
            tenant=tenant,
            defaults={
                "sharing_requires_consent": sharing_requires_consent,
                "updated_at": timezone.now(),
                "updated_by": actor,
            },
        )
        audit.record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role=policy.membership(actor, tenant).role,
            object_type="consent_requirement",
            object_ids=[str(requirement.pk)],
            details={"sharing_requires_consent": sharing_requires_consent},
        )
    return requirement


def decide(
    *,
    patient: Patient,
    purpose: str,
    grant: bool,
    version: int,
    actor: User,
    request: HttpRequest | None = None,
) -> ConsentDecision:
    """Record that the patient grants (or withdraws) consent to `purpose`, on the text version they read.

    `actor` is the patient themselves, or a clinic admin recording a signed paper form. Refused when the
    version read is no longer the current one (the patient must read the new words), when there is no
    text to agree to, or when withdrawing what is not granted."""
    tenant = patient.tenant
    if purpose not in ConsentPurpose.values:
        raise ConsentRefused(f"Unknown purpose {purpose!r}.")
    with transaction.atomic(), tenant_scope(tenant):
        member = policy.membership(actor, tenant)
        is_the_patient = member is not None and patient.account_id == actor.pk
        if not is_the_patient and not policy.can(actor, policy.Action.MANAGE_CONSENTS, tenant):
            raise ConsentRefused(
                "Only the patient, or the clinic's admins from a signed form, decide on consent."
            )
        # Serialise decisions of one patient so that "latest" is well defined.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        text = selectors.current_text(purpose)
        if text is None:
            raise ConsentRefused("The clinic has not published a text for this purpose yet.")
        if text.version != version:
            raise ConsentRefused(
                f"The clinic has published version {text.version} of this text since you opened the page: "
                "read it, then decide again."
            )
        current = selectors.current_decision(patient, purpose)
        currently_granted = current is not None and current.granted
        if grant and currently_granted and current.text_id == text.pk:
            raise ConsentRefused("This consent is already given.")
        if not grant and not currently_granted:
            raise ConsentRefused("There is no consent to withdraw.")
        now = timezone.now()
        decision = ConsentDecision.objects.create(
            tenant=tenant,
            patient=patient,
            purpose=purpose,
            text=text,
            granted=grant,
            decided_at=now,
            decided_by=actor,
            withdrawn_at=None if grant else now,
        )
        audit.record(
            AuditAction.CONSENT_GRANTED if grant else AuditAction.CONSENT_WITHDRAWN,
            request=request,
            actor=actor,
            tenant=tenant,
            actor_role=member.role if member is not None else "",
            object_type="patient",
            object_ids=[str(patient.pk)],
            details={"purpose": purpose, "text_version": text.version},
        )
    return decision
