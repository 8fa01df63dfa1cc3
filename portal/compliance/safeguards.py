"""HIPAA 164.312 technical safeguards and GDPR articles 5, 17, 30 and 32, each judged from the evidence.

Each safeguard names the evidence it rests on and the rule that decides its status, in words the
report prints next to it, so an auditor sees not only "met" but why. The thresholds are here, in one
place, and docs/compliance.md repeats them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from portal.compliance.evidence import Evidence

# A scrub pass (every copy's ciphertext hash checked) must have finished this recently.
SCRUB_MAX_AGE = timedelta(days=7)
# The recovery point the replicas must keep: copies waiting longer are a loss if the home region fails.
RPO_TARGET = timedelta(hours=1)
# Restore drills (docs/backup.md) at least quarterly.
DRILL_MAX_AGE = timedelta(days=90)
# Checkpoints are signed daily (audit.tasks.sign_audit_checkpoints); two days leaves a missed run visible.
CHECKPOINT_MAX_AGE = timedelta(days=2)
# Indexing moves an object's key under its study key within minutes of receipt.
INDEXING_MAX_AGE = timedelta(hours=1)
# GDPR art. 12(3): a request is answered within one month.
ERASURE_DEADLINE = timedelta(days=30)
# An agreement expiring within this is flagged (portal.agreements.services.EXPIRY_WARNING).
AGREEMENT_WARNING_DAYS = 30
HSTS_MINIMUM_SECONDS = 180 * 24 * 3600


class Status(StrEnum):
    MET = "met"
    ATTENTION = "attention"
    NOT_MET = "not_met"

    @property
    def label(self) -> str:
        return {"met": "Met", "attention": "Needs attention", "not_met": "Not met"}[self.value]


@dataclass(frozen=True)
class Safeguard:
    key: str
    framework: str
    reference: str
    title: str
    evidence: list[str]
    rule: str
    status: Status
    findings: list[str]


def _judge(not_met: list[str], attention: list[str]) -> tuple[Status, list[str]]:
    if not_met:
        return Status.NOT_MET, not_met + attention
    if attention:
        return Status.ATTENTION, attention
    return Status.MET, []


def _access_control(ev: Evidence) -> tuple[list[str], list[str]]:
    attention = []
    if ev.stale:
        attention.append(f"{len(ev.stale)} active account(s) without a sign-in for 90 days.")
    return [], attention


def _encryption(ev: Evidence) -> tuple[list[str], list[str]]:
    enc = ev.encryption
    not_met, attention = [], []
    if enc.unsealed:
        not_met.append(
            f"{enc.unsealed} stored object(s) without a wrapped key and a recorded ciphertext hash."
        )
    if enc.awaiting_index_oldest and ev.now - enc.awaiting_index_oldest > INDEXING_MAX_AGE:
        attention.append(f"{enc.awaiting_index} object(s) still keyed under the tenant key after an hour.")
    return not_met, attention


def _audit_controls(ev: Evidence) -> tuple[list[str], list[str]]:
    not_met, attention = [], []
    if not ev.chain.intact:
        not_met.append(f"The audit chain does not verify: {ev.chain.problem}.")
    if ev.chain.checkpoint_signed_at is None:
        attention.append("No signed checkpoint of the audit chain yet.")
    elif ev.now - ev.chain.checkpoint_signed_at > CHECKPOINT_MAX_AGE:
        attention.append("The newest signed checkpoint is older than two days.")
    if ev.alerts.total:
        attention.append(f"{ev.alerts.total} alert(s) not yet acknowledged.")
    return not_met, attention


def _integrity(ev: Evidence) -> tuple[list[str], list[str]]:
    not_met, attention = [], []
    if ev.scrub.unrepairable:
        not_met.append(f"The scrub found {ev.scrub.unrepairable} copy(ies) it could not repair.")
    if ev.replication.failed:
        not_met.append(f"{ev.replication.failed} replica copy(ies) failed, missing or corrupt.")
    if ev.encryption.objects:
        finished = ev.scrub.pass_finished_at
        if finished is None:
            attention.append("No scrub pass has finished yet.")
        elif ev.now - finished > SCRUB_MAX_AGE:
            attention.append("The last finished scrub pass is older than seven days.")
    return not_met, attention


def _authentication(ev: Evidence) -> tuple[list[str], list[str]]:
    missing = sum(row.without_mfa for row in ev.mfa if row.required)
    if missing:
        return [f"{missing} member(s) of roles that must use MFA have no authenticator app or passkey."], []
    return [], []


def _transmission(ev: Evidence) -> tuple[list[str], list[str]]:
    tx = ev.transmission
    not_met, attention = [], []
    if not tx.https_redirect or not tx.secure_cookies:
        not_met.append("The portal does not force HTTPS with secure cookies.")
    elif tx.hsts_seconds < HSTS_MINIMUM_SECONDS:
        attention.append("HSTS is shorter than 180 days.")
    unbound = tx.peers_active - tx.peers_with_tls_subject
    if unbound:
        attention.append(f"{unbound} active DICOM peer(s) not bound to a TLS certificate subject.")
    return not_met, attention


def _gdpr_principles(ev: Evidence) -> tuple[list[str], list[str]]:
    not_met, attention = [], []
    if ev.residency_violations:
        not_met.append(f"{ev.residency_violations} object(s) or copies held outside the clinic's residency.")
    if not ev.retention.rules:
        attention.append("No retention rule is active: studies are kept indefinitely.")
    if ev.retention.overdue:
        attention.append(f"{ev.retention.overdue} study(ies) past retention, not held and not yet destroyed.")
    return not_met, attention


def _gdpr_erasure(ev: Evidence) -> tuple[list[str], list[str]]:
    oldest = ev.retention.erasure_oldest_pending
    if oldest and ev.now - oldest > ERASURE_DEADLINE:
        return [], ["An erasure request has waited more than a month for a decision."]
    return [], []


def _gdpr_records(ev: Evidence) -> tuple[list[str], list[str]]:
    missing = [row.label for row in ev.agreements if row.required and row.version is None]
    expiring = [row.label for row in ev.agreements if row.state == "expiring"]
    not_met = [f"Not in force: {', '.join(missing)}."] if missing else []
    attention = [f"Expiring within {AGREEMENT_WARNING_DAYS} days: {', '.join(expiring)}."] if expiring else []
    return not_met, attention


def _gdpr_security(ev: Evidence) -> tuple[list[str], list[str]]:
    not_met, attention = _encryption(ev)[0], []
    if ev.scrub.unrepairable or ev.replication.failed:
        not_met.append("Stored copies are damaged or lost (see integrity).")
    if not ev.tenant.replica_regions:
        attention.append("No replica region: a lost home region loses the images.")
    if ev.replication.lag > RPO_TARGET:
        attention.append("Replication lags more than an hour behind.")
    drill = ev.restore
    if drill is None:
        attention.append("No restore drill is recorded.")
    elif ev.now - drill.restored_at > DRILL_MAX_AGE:
        attention.append("The last restore drill is older than 90 days.")
    elif drill.problems:
        attention.append(f"The last restore drill found {drill.problems} problem(s).")
    return not_met, attention


@dataclass(frozen=True)
class _Definition:
    key: str
    framework: str
    reference: str
    title: str
    evidence: list[str]
    rule: str
    judge: Callable[[Evidence], tuple[list[str], list[str]]]


DEFINITIONS = [
    _Definition(
        "hipaa-access-control",
        "HIPAA",
        "164.312(a)(1)",
        "Access control",
        ["stale-accounts", "mfa"],
        "Met when no active member has gone 90 days without signing in; needs attention otherwise. Who may "
        "open what follows from each member's role (transparency page).",
        _access_control,
    ),
    _Definition(
        "hipaa-encryption",
        "HIPAA",
        "164.312(a)(2)(iv)",
        "Encryption and decryption",
        ["encryption"],
        "Not met when any stored object lacks a wrapped data key or a recorded ciphertext hash; needs "
        "attention when an object's key is still under the tenant key an hour after receipt; met otherwise.",
        _encryption,
    ),
    _Definition(
        "hipaa-audit",
        "HIPAA",
        "164.312(b)",
        "Audit controls",
        ["audit-chain", "alerts"],
        "Not met when the clinic's audit chain fails verification; needs attention when no checkpoint was "
        "signed in the last two days or alerts are open; met otherwise.",
        _audit_controls,
    ),
    _Definition(
        "hipaa-integrity",
        "HIPAA",
        "164.312(c)(1)",
        "Integrity",
        ["scrub", "replication"],
        "Not met when the scrub found copies it could not repair or a replica copy is failed, missing or "
        "corrupt; needs attention when objects are stored and no scrub pass finished in the last seven "
        "days; met otherwise.",
        _integrity,
    ),
    _Definition(
        "hipaa-authentication",
        "HIPAA",
        "164.312(d)",
        "Person or entity authentication",
        ["mfa"],
        "Not met when a member of a role the clinic's security policy requires MFA of has no confirmed "
        "authenticator app or passkey; met otherwise (other roles' coverage is shown for information).",
        _authentication,
    ),
    _Definition(
        "hipaa-transmission",
        "HIPAA",
        "164.312(e)(1)",
        "Transmission security",
        ["transmission"],
        "Not met unless the portal redirects to HTTPS and its cookies are secure; needs attention when HSTS "
        "is under 180 days or an active DICOM peer is not bound to a TLS certificate subject; met otherwise.",
        _transmission,
    ),
    _Definition(
        "gdpr-5",
        "GDPR",
        "Art. 5",
        "Principles: storage limitation, integrity and confidentiality",
        ["storage", "retention"],
        "Not met when any object or copy lies in a region outside the clinic's residency; needs attention "
        "when no retention rule is active or studies past retention are neither held nor destroyed; met "
        "otherwise.",
        _gdpr_principles,
    ),
    _Definition(
        "gdpr-17",
        "GDPR",
        "Art. 17",
        "Right to erasure",
        ["retention"],
        "Needs attention when an erasure request has waited more than a month (art. 12(3)); met otherwise. "
        "Each erasure is a crypto-shredding with a certificate of destruction.",
        _gdpr_erasure,
    ),
    _Definition(
        "gdpr-30",
        "GDPR",
        "Art. 30",
        "Records of processing",
        ["agreements", "consents", "audit-chain"],
        "Not met when an agreement the clinic's jurisdiction requires is not in force; needs attention when "
        "one expires within 30 days; met otherwise.",
        _gdpr_records,
    ),
    _Definition(
        "gdpr-32",
        "GDPR",
        "Art. 32",
        "Security of processing",
        ["encryption", "replication", "restore", "scrub"],
        "Not met when objects are unencrypted or copies damaged beyond repair; needs attention without a "
        "replica region, with replication more than an hour behind, or without a restore drill in the "
        "last 90 days (or with problems in it); met otherwise.",
        _gdpr_security,
    ),
]


def safeguards(ev: Evidence) -> list[Safeguard]:
    result = []
    for definition in DEFINITIONS:
        status, findings = _judge(*definition.judge(ev))
        result.append(
            Safeguard(
                key=definition.key,
                framework=definition.framework,
                reference=definition.reference,
                title=definition.title,
                evidence=definition.evidence,
                rule=definition.rule,
                status=status,
                findings=findings,
            )
        )
    return result
