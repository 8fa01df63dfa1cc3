"""The alert rules, run over one audit chain's events in sequence order (audit.alerts.services).

Each rule looks at some actions and, for each such event, makes observations about a subject (a user,
a DICOM peer, the whole chain): a patient seen, a study downloaded, a failed sign-in. Two shapes:

- **Burst rules** measure, per subject, what its observations within a sliding window add up to (the
  number of events, or of distinct patients or studies). When the measure reaches the threshold an
  alert is raised; each later observation of that subject within the window of the alert's last
  event extends that alert instead of raising another, so one burst makes exactly one alert however
  long it lasts. After a full window of quiet, or once the alert is acknowledged, a new burst raises a
  new alert.
- **Per-event rules** (break-the-glass) raise one alert per event, and the broken-chain rule one per
  break however often it is found. These are also raised the moment the event is recorded
  (`services.raise_for_event`); the stream then finds the alert already there.

How events name what they expose (the contract with whoever records them): VIEW_STUDY and DOWNLOAD
events of object_type "study" list Study Instance UIDs in object_ids; any event may name its studies in
details["study"] (one UID) or details["studies"] (a list), as WADO-RS and DIMSE retrieves do. The
subject is the event's actor, else details["calling_ae"] (a DICOM peer), else details["share_link"].
"""

from dataclasses import dataclass, field
from datetime import timedelta

from audit.alerts.models import AlertKind, AlertRules, Severity
from audit.models import AuditAction, AuditEvent, Outcome

ACCESS_ACTIONS = frozenset({AuditAction.VIEW_STUDY, AuditAction.RETRIEVE, AuditAction.DOWNLOAD})
# Transactions that hand over whole DICOM objects, as opposed to what a viewer shows (frames,
# rendered images, thumbnails, metadata).
_DOWNLOADING_RETRIEVES = {("wado-rs", "retrieve"), ("wado-rs", "bulkdata"), ("c-get", None), ("c-move", None)}


@dataclass(frozen=True)
class StudyFacts:
    patient_id: int
    patient_restricted: bool


class StudyIndex:
    """Patient of each study UID the events name, loaded once per batch (inside the tenant's scope)."""

    def __init__(self, facts: dict[str, StudyFacts] | None = None) -> None:
        self._facts = facts or {}

    def get(self, study_uid: str) -> StudyFacts | None:
        return self._facts.get(study_uid)


@dataclass(frozen=True)
class Subject:
    key: str
    user_id: int | None = None

    @property
    def is_user(self) -> bool:
        return self.user_id is not None


def subject_of(event: AuditEvent) -> Subject | None:
    if event.actor_id is not None:
        return Subject(f"user:{event.actor_id}", event.actor_id)
    details = event.details or {}
    if details.get("calling_ae"):
        return Subject(f"ae:{details['calling_ae']}")
    if details.get("share_link"):
        return Subject(f"share-link:{details['share_link']}")
    return None


def studies_of(event: AuditEvent) -> list[str]:
    details = event.details or {}
    uids: list[str] = []
    if event.action in (AuditAction.VIEW_STUDY, AuditAction.DOWNLOAD) and event.object_type == "study":
        uids += [str(uid) for uid in event.object_ids]
    if isinstance(details.get("study"), str):
        uids.append(details["study"])
    if isinstance(details.get("studies"), list):
        uids += [str(uid) for uid in details["studies"]]
    return list(dict.fromkeys(uids))


def _subject_text(subject: Subject) -> str:
    kind, _, name = subject.key.partition(":")
    return {"user": f"User #{name}", "ae": f"DICOM peer {name}", "share-link": f"Share link #{name}"}.get(
        kind, "Someone"
    )


@dataclass(frozen=True)
class Observation:
    subject: Subject
    # What the measure counts distinct: the event itself, a patient, a study.
    value: str
    # Identifiers gathered on the alert: {"studies": uid, "patients": "17", "addresses": ip}.
    facts: dict[str, str] = field(default_factory=dict)


class Rule:
    kind: AlertKind
    severity: Severity
    actions: frozenset[str]
    # "window": one alert per burst; "event": one per event; "subject": one per subject, ever.
    dedupe = "window"
    # The prefix of the clinic's settings of this rule in AlertRules (`<setting>_enabled`,
    # `<setting>_threshold`, `<setting>_window_minutes`); a rule without one is always on, at once.
    setting: str | None = None

    def enabled(self, rules: AlertRules) -> bool:
        return self.setting is None or getattr(rules, f"{self.setting}_enabled")

    def threshold(self, rules: AlertRules) -> int:
        return getattr(rules, f"{self.setting}_threshold", 1) if self.setting else 1

    def window(self, rules: AlertRules) -> timedelta:
        if self.setting is None:
            return timedelta(0)
        return timedelta(minutes=getattr(rules, f"{self.setting}_window_minutes"))

    def observe(self, event: AuditEvent, rules: AlertRules, studies: StudyIndex) -> list[Observation]:
        raise NotImplementedError

    def summary(self, subject: Subject, measure: int, rules: AlertRules) -> str:
        raise NotImplementedError

    def needs_studies(self) -> bool:
        return False


def _minutes_text(minutes: int) -> str:
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _successful_access(event: AuditEvent) -> bool:
    return event.action in ACCESS_ACTIONS and event.outcome == Outcome.SUCCESS


class FailedSignIns(Rule):
    kind = AlertKind.FAILED_SIGN_INS
    severity = Severity.HIGH
    actions = frozenset({AuditAction.SIGN_IN_FAILED})
    setting = "failed_sign_ins"

    def observe(self, event, rules, studies):
        # The whole chain is the subject: guessing spread over many names and addresses is one attack.
        facts = {"addresses": event.source_address} if event.source_address else {}
        return [Observation(Subject(""), f"#{event.sequence}", facts)]

    def summary(self, subject, measure, rules):
        return f"{measure} failed sign-ins within {_minutes_text(rules.failed_sign_ins_window_minutes)}"


class ManyPatients(Rule):
    kind = AlertKind.MANY_PATIENTS
    severity = Severity.MEDIUM
    actions = ACCESS_ACTIONS
    setting = "many_patients"

    def needs_studies(self):
        return True

    def observe(self, event, rules, studies):
        subject = subject_of(event)
        # People, not the clinic's PACS: a DICOM peer routinely touches every patient.
        if subject is None or not subject.is_user or not _successful_access(event):
            return []
        found = []
        for uid in studies_of(event):
            study = studies.get(uid)
            if study is not None:
                found.append(
                    Observation(
                        subject,
                        f"patient:{study.patient_id}",
                        {"studies": uid, "patients": str(study.patient_id)},
                    )
                )
        return found

    def summary(self, subject, measure, rules):
        return (
            f"{_subject_text(subject)} opened studies of {measure} patients within "
            f"{_minutes_text(rules.many_patients_window_minutes)}"
        )


class BulkDownload(Rule):
    kind = AlertKind.BULK_DOWNLOAD
    severity = Severity.HIGH
    actions = frozenset({AuditAction.DOWNLOAD, AuditAction.RETRIEVE})
    setting = "bulk_download"

    def observe(self, event, rules, studies):
        subject = subject_of(event)
        if subject is None or event.outcome != Outcome.SUCCESS:
            return []
        if event.action == AuditAction.RETRIEVE:
            details = event.details or {}
            service = details.get("service")
            transaction = details.get("transaction") if service == "wado-rs" else None
            if (service, transaction) not in _DOWNLOADING_RETRIEVES:
                return []
        return [Observation(subject, f"study:{uid}", {"studies": uid}) for uid in studies_of(event)]

    def summary(self, subject, measure, rules):
        return (
            f"{_subject_text(subject)} downloaded {measure} studies within "
            f"{_minutes_text(rules.bulk_download_window_minutes)}"
        )


class OffHours(Rule):
    kind = AlertKind.OFF_HOURS
    severity = Severity.LOW
    actions = ACCESS_ACTIONS
    setting = "off_hours"

    def observe(self, event, rules, studies):
        subject = subject_of(event)
        if subject is None or not subject.is_user or not _successful_access(event):
            return []
        if rules.is_usual_time(event.occurred_at):
            return []
        return [
            Observation(subject, f"#{event.sequence}", {"studies": uid} if (uid := _first(event)) else {})
        ]

    def summary(self, subject, measure, rules):
        return (
            f"{_subject_text(subject)} opened studies outside the usual hours "
            f"({rules.usual_hours_start:%H:%M} to {rules.usual_hours_end:%H:%M} {rules.time_zone})"
        )


def _first(event: AuditEvent) -> str | None:
    uids = studies_of(event)
    return uids[0] if uids else None


class RestrictedPatient(Rule):
    kind = AlertKind.RESTRICTED_PATIENT
    severity = Severity.HIGH
    actions = ACCESS_ACTIONS
    setting = "restricted_patient"

    def needs_studies(self):
        return True

    def observe(self, event, rules, studies):
        if not _successful_access(event):
            return []
        subject = subject_of(event)
        if subject is None:
            subject = Subject("unknown")
        found = []
        for uid in studies_of(event):
            study = studies.get(uid)
            if study is not None and study.patient_restricted:
                # One alert per person and patient: the viewer's many requests for one study are one access.
                per_patient = Subject(f"{subject.key}|patient:{study.patient_id}", subject.user_id)
                found.append(
                    Observation(
                        per_patient, f"#{event.sequence}", {"studies": uid, "patients": str(study.patient_id)}
                    )
                )
        return found

    def summary(self, subject, measure, rules):
        # Which patient stays behind the link (the alert's details), out of e-mails and webhooks.
        actor = subject.key.partition("|")[0]
        return f"{_subject_text(Subject(actor, subject.user_id))} opened a study of a restricted patient"


class BreakGlass(Rule):
    kind = AlertKind.BREAK_GLASS
    severity = Severity.HIGH
    actions = frozenset({AuditAction.BREAK_THE_GLASS})
    dedupe = "event"

    def observe(self, event, rules, studies):
        subject = subject_of(event)
        if subject is None or event.outcome != Outcome.SUCCESS:
            return []
        facts = {"grants": str(event.details["grant"])} if (event.details or {}).get("grant") else {}
        if uid := _first(event) or (event.object_ids[0] if event.object_ids else None):
            facts["studies"] = uid
        return [Observation(subject, f"#{event.sequence}", facts)]

    def summary(self, subject, measure, rules):
        return f"{_subject_text(subject)} broke the glass to open a study"


class ChainBroken(Rule):
    kind = AlertKind.CHAIN_BROKEN
    severity = Severity.CRITICAL
    actions = frozenset({AuditAction.SECURITY_ALERT})
    dedupe = "subject"

    def observe(self, event, rules, studies):
        details = event.details or {}
        if details.get("alert") != "audit_chain_broken":
            return []
        chain = event.object_ids[0] if event.object_ids else event.chain
        # Verification reports the first break only: one alert per break, found daily or on demand.
        return [Observation(Subject(f"chain:{chain}@{details.get('sequence')}"), f"#{event.sequence}")]

    def summary(self, subject, measure, rules):
        where = subject.key.removeprefix("chain:")
        chain, _, sequence = where.partition("@")
        return f"Audit chain {chain} does not verify from event {sequence}"


# What imaging.replication raises: a copy that could not be made after its last retry, a write refused by
# the residency rule, copies the scrub found bad and could not repair.
_STORAGE_ALERTS = {
    "replication_failed": "could not be copied to",
    "residency_violation": "were refused a copy outside the clinic's jurisdiction in",
    "scrub_unrepaired": "have copies the scrub could not repair in",
}


class StorageFault(Rule):
    kind = AlertKind.STORAGE_FAULT
    severity = Severity.HIGH
    actions = frozenset({AuditAction.SECURITY_ALERT})
    dedupe = "event"

    def observe(self, event, rules, studies):
        details = event.details or {}
        if details.get("alert") not in _STORAGE_ALERTS:
            return []
        regions = details.get("regions") or [details.get("region", "")]
        where = ", ".join(str(region) for region in regions if region)
        return [Observation(Subject(f"storage:{details['alert']}@{where}"), f"#{event.sequence}")]

    def summary(self, subject, measure, rules):
        alert, _, where = subject.key.removeprefix("storage:").partition("@")
        return f"Stored objects {_STORAGE_ALERTS[alert]} {where or 'a region'}"


RULES: tuple[Rule, ...] = (
    FailedSignIns(),
    ManyPatients(),
    BulkDownload(),
    OffHours(),
    RestrictedPatient(),
    BreakGlass(),
    ChainBroken(),
    StorageFault(),
)
IMMEDIATE_RULES = tuple(rule for rule in RULES if rule.dedupe != "window")
