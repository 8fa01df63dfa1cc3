"""Patient onboarding: a clinic issues an access code for a Patient record; the patient brings it, with
their date of birth, to /patients/join/, which makes (or links) their account, gives it the `patient`
role in the clinic and links the Patient record to it (accounts.policy then shows them their studies).

Views and tasks call these functions; they hold every rule, the views none."""

import datetime
import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

import audit
from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import Patient
from portal.patients import codes
from portal.patients.models import PatientAccessCode
from portal.tenancy import all_tenants_scope, tenant_scope

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = timedelta(days=30)
# The fifth wrong date of birth in a row locks the code for good: a new one must be issued.
MAX_FAILED_ATTEMPTS = 5
# Failed joins from one address (unknown codes, wrong dates of birth, on any code) allowed per window
# before the join page answers 429, counted from the audit trail as share links count theirs
# (portal.sharing.links.services.guesses_exhausted).
GUESSES_PER_ADDRESS = 10
GUESS_WINDOW = timedelta(minutes=15)
AUDIT_OBJECT = "patient_access_code"


class CodeState(StrEnum):
    ACTIVE = "active"
    # E-mail delivery asked for, the code not made yet (the task makes it).
    PENDING = "pending"
    USED = "used"
    # A newer code was issued for the patient, or the e-mail could not be queued.
    REVOKED = "revoked"
    EXPIRED = "expired"
    LOCKED = "locked"


def code_state(code: PatientAccessCode, now: datetime.datetime | None = None) -> CodeState:
    now = now or timezone.now()
    if code.used_at is not None:
        return CodeState.USED
    if code.revoked_at is not None:
        return CodeState.REVOKED
    if code.expires_at <= now:
        return CodeState.EXPIRED
    if code.locked_at is not None:
        return CodeState.LOCKED
    if not code.code_hash:
        return CodeState.PENDING
    return CodeState.ACTIVE


class IssueRefused(Exception):
    """The code cannot be issued; the message says why, for the member of staff."""


# --- Issuing --------------------------------------------------------------------------------------------


def issue_code(
    *,
    patient: Patient,
    issued_by: User,
    request: HttpRequest,
    actor_role: str,
    email: str = "",
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> tuple[PatientAccessCode, str | None]:
    """A new code for `patient`, ending any earlier unused one. Returns the row and, when printed, the
    code itself, which exists nowhere else: show it once. With `email`, a Celery task makes the code
    and mails it, so that it never travels through the broker. Call in the patient's tenant scope; the
    caller has checked ISSUE_ACCESS_CODE with the policy."""
    if patient.birth_date is None:
        raise IssueRefused(
            "This patient has no date of birth on record, which the patient must give with the code. "
            "Correct the record first."
        )
    if patient.account_id is not None:
        raise IssueRefused("This patient already has a portal account linked to their record.")
    now = timezone.now()
    plain = None if email else codes.new_code()
    with transaction.atomic():
        PatientAccessCode.objects.filter(
            patient=patient, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        code = PatientAccessCode.objects.create(
            tenant=patient.tenant,
            patient=patient,
            code_hash=codes.digest(plain) if plain else "",
            issued_by=issued_by,
            issued_at=now,
            expires_at=now + lifetime,
            email=email,
        )
    audit.record(
        AuditAction.ACCESS_CODE_ISSUED,
        request=request,
        tenant=patient.tenant,
        actor_role=actor_role,
        object_type=AUDIT_OBJECT,
        object_ids=[str(code.pk), f"patient:{patient.pk}"],
        details={"delivery": "email" if email else "print", "expires_at": code.expires_at.isoformat()},
    )
    if email:
        _queue_email(code, request)
    return code, plain


def _queue_email(code: PatientAccessCode, request: HttpRequest) -> None:
    from portal.patients.tasks import send_patient_access_code

    try:
        send_patient_access_code.delay(code.pk, code.tenant_id, request.get_host(), request.is_secure())
    except BrokerError:
        logger.warning("Broker unreachable; access code %s not e-mailed", code.pk)
        PatientAccessCode.objects.filter(pk=code.pk).update(revoked_at=timezone.now())
        code.refresh_from_db()
        raise IssueRefused(
            "The e-mail could not be sent just now. Try again in a moment, or print the code."
        ) from None


def make_emailed_code(code_id: int, tenant_id: int) -> tuple[PatientAccessCode, str] | None:
    """Make the code of an e-mailed access code and keep its hash (the Celery task's first step).
    Running twice makes two codes of which the newer works: harmless, the mail of the second run says it.
    None when the code no longer needs one (used, revoked, expired, locked)."""
    from portal.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None
    with tenant_scope(tenant):
        code = PatientAccessCode.objects.filter(pk=code_id).first()
        if code is None or not code.email or code_state(code) not in (CodeState.PENDING, CodeState.ACTIVE):
            return None
        plain = codes.new_code()
        PatientAccessCode.objects.filter(pk=code.pk).update(code_hash=codes.digest(plain))
    return code, plain


# --- Joining --------------------------------------------------------------------------------------------


def find_code(typed: str) -> PatientAccessCode | None:
    """The access code typed, of any clinic: the code is all the patient brings, and it names the clinic.

    The one read of access codes outside a tenant scope; what follows runs in the code's clinic's scope."""
    code = codes.normalized(typed)
    if not codes.is_well_formed(code):
        return None
    with all_tenants_scope():
        return (
            PatientAccessCode.objects.select_related("tenant", "patient")
            .filter(code_hash=codes.digest(code), tenant__is_active=True)
            .first()
        )


def guesses_exhausted(address: str | None, now: datetime.datetime | None = None) -> bool:
    """Whether `address` failed GUESSES_PER_ADDRESS joins within GUESS_WINDOW (see
    portal.sharing.links.services.guesses_exhausted for why the audit trail is the counter)."""
    if address is None:
        return False
    since = (now or timezone.now()) - GUESS_WINDOW
    failures = AuditEvent.objects.filter(
        action=AuditAction.PATIENT_JOIN_FAILED, occurred_at__gte=since, source_address=address
    )
    return failures.count() >= GUESSES_PER_ADDRESS


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a code and date of birth: `code` is set when both were right and the code usable."""

    code: PatientAccessCode | None
    # Why not, when not: "no_match" (unknown code or wrong date of birth, never told apart), or a CodeState.
    refusal: str = ""
    locked_now: bool = False


def check_code(typed: str, birth_date: datetime.date, *, request: HttpRequest) -> CodeCheck:
    """Check a code and a date of birth; count and audit a wrong date of birth (the fifth locks the code).
    Nothing is used up here: `join` does that once the account is settled."""
    code = find_code(typed)
    if code is None:
        _record_failure(request, None, "unknown_code")
        return CodeCheck(code=None, refusal="no_match")
    with tenant_scope(code.tenant):
        with transaction.atomic():
            # Locked for the decision, so that concurrent guesses do not lose a count.
            locked = PatientAccessCode.objects.select_for_update().select_related("patient").get(pk=code.pk)
            state = code_state(locked)
            if state != CodeState.ACTIVE:
                refusal = "no_match" if state == CodeState.PENDING else state.value
                _record_failure(request, locked, state.value)
                return CodeCheck(code=None, refusal=refusal)
            if locked.patient.birth_date == birth_date:
                if locked.failed_attempts:
                    # "In a row": the right answer forgives earlier slips.
                    PatientAccessCode.objects.filter(pk=locked.pk).update(failed_attempts=0)
                return CodeCheck(code=locked)
            PatientAccessCode.objects.filter(pk=locked.pk).update(failed_attempts=F("failed_attempts") + 1)
            locked.refresh_from_db(fields=["failed_attempts"])
            lock = locked.failed_attempts >= MAX_FAILED_ATTEMPTS
            if lock:
                PatientAccessCode.objects.filter(pk=locked.pk).update(locked_at=timezone.now())
        _record_failure(
            request, locked, "wrong_birth_date", failed_attempts=locked.failed_attempts, locked=lock
        )
    return CodeCheck(code=None, refusal=CodeState.LOCKED.value if lock else "no_match", locked_now=lock)


def _record_failure(request: HttpRequest, code: PatientAccessCode | None, reason: str, **details) -> None:
    audit.record(
        AuditAction.PATIENT_JOIN_FAILED,
        request=request,
        tenant=code.tenant if code is not None else None,
        outcome=Outcome.FAILURE,
        object_type=AUDIT_OBJECT,
        object_ids=[str(code.pk)] if code is not None else [],
        details={"reason": reason, **details},
    )


def record_throttled(request: HttpRequest) -> None:
    audit.record(
        AuditAction.ACCESS_DENIED,
        request=request,
        outcome=Outcome.FAILURE,
        object_type=AUDIT_OBJECT,
        details={"reason": "throttled", "route": "patient-join", "method": request.method},
    )


class JoinRefused(Exception):
    """The account cannot be linked; the message says why, for the patient."""


@dataclass(frozen=True)
class NewAccount:
    email: str
    password: str
    full_name: str = ""


def join(code: PatientAccessCode, account: User | NewAccount, *, request: HttpRequest) -> User:
    """Use `code` (checked by check_code) for `account`: a signed-in or just authenticated user, or a new
    account to make. Makes the `patient` membership in the code's clinic if missing, links the Patient
    record and marks the code used, all or nothing. A person imaged at two clinics joins the second
    with its code on the same account and sees both."""
    now = timezone.now()
    with tenant_scope(code.tenant), transaction.atomic():
        locked = PatientAccessCode.objects.select_for_update().select_related("patient").get(pk=code.pk)
        if code_state(locked, now) != CodeState.ACTIVE:
            raise JoinRefused("This code has just been used or withdrawn. Ask your clinic for a new one.")
        patient = Patient.objects.select_for_update().get(pk=locked.patient_id)
        user = _account(account)
        if patient.account_id not in (None, user.pk):
            raise JoinRefused("This code is for a record already linked to another account.")
        member = Membership.objects.filter(user=user, tenant=code.tenant).first()
        if member is not None and member.role != Role.PATIENT:
            raise JoinRefused(
                "This account already works at this clinic. Use a separate account, with another e-mail "
                "address, for your own images."
            )
        if member is None:
            Membership.objects.create(user=user, tenant=code.tenant, role=Role.PATIENT)
        Patient.objects.filter(pk=patient.pk).update(account=user)
        PatientAccessCode.objects.filter(pk=locked.pk).update(used_at=now, used_by=user)
    audit.record(
        AuditAction.PATIENT_JOINED,
        request=request,
        tenant=code.tenant,
        actor=user,
        actor_role=Role.PATIENT,
        object_type=AUDIT_OBJECT,
        object_ids=[str(code.pk), f"patient:{patient.pk}"],
        details={"new_account": isinstance(account, NewAccount), "new_membership": member is None},
    )
    return user


def _account(account: User | NewAccount) -> User:
    if isinstance(account, User):
        return account
    if User.objects.filter(email__iexact=account.email).exists():
        raise JoinRefused("An account with this e-mail address already exists: sign in with it first.")
    return User.objects.create_user(account.email, account.password, full_name=account.full_name)
