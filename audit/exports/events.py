"""Which DICOM audit event each Palisade action is (PS3.15 A.5.3, the IHE ATNA events), with the
codes of PS3.16 (context groups 400-403) that both exports use: the DICOM XML's EventID and
EventTypeCode, and the FHIR AuditEvent's type and subtype.

Conventions (PS3.15 A.5.3): a read or transfer out of Palisade makes Palisade the Source
(110153) and the requestor the Destination (110152); a store, an import or a query makes the
requestor the Source and Palisade the Destination. A refused request is a Security Alert with the
"Use of Restricted Function" type and a failure outcome; changes to who may see what are Security
Alerts with the type naming what changed.
"""

from dataclasses import dataclass
from enum import Enum

from audit.models import AuditAction, AuditEvent, Outcome


@dataclass(frozen=True)
class Code:
    """A coded value: its code, the DICOM codeSystemName of its scheme, and its meaning."""

    code: str
    scheme: str
    meaning: str


DCM = "DCM"
# PS3.16 CID 400, Audit Event ID.
APPLICATION_ACTIVITY = Code("110100", DCM, "Application Activity")
AUDIT_LOG_USED = Code("110101", DCM, "Audit Log Used")
BEGIN_TRANSFERRING = Code("110102", DCM, "Begin Transferring DICOM Instances")
INSTANCES_ACCESSED = Code("110103", DCM, "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = Code("110104", DCM, "DICOM Instances Transferred")
EXPORT = Code("110106", DCM, "Export")
IMPORT = Code("110107", DCM, "Import")
PATIENT_RECORD = Code("110110", DCM, "Patient Record")
QUERY = Code("110112", DCM, "Query")
SECURITY_ALERT = Code("110113", DCM, "Security Alert")
USER_AUTHENTICATION = Code("110114", DCM, "User Authentication")
# PS3.16 CID 401, Audit Event Type Code.
LOGIN = Code("110122", DCM, "Login")
LOGOUT = Code("110123", DCM, "Logout")
NODE_AUTHENTICATION = Code("110126", DCM, "Node Authentication")
EMERGENCY_OVERRIDE_STARTED = Code("110127", DCM, "Emergency Override Started")
NETWORK_CONFIGURATION = Code("110128", DCM, "Network Configuration")
SECURITY_CONFIGURATION = Code("110129", DCM, "Security Configuration")
USE_OF_RESTRICTED_FUNCTION = Code("110132", DCM, "Use of Restricted Function")
OBJECT_SECURITY_ATTRIBUTES_CHANGED = Code("110135", DCM, "Object Security Attributes Changed")
SECURITY_ROLES_CHANGED = Code("110136", DCM, "Security Roles Changed")
USER_SECURITY_ATTRIBUTES_CHANGED = Code("110137", DCM, "User security Attributes Changed")
# PS3.16 CID 402, Audit Active Participant Role ID Code.
APPLICATION = Code("110150", DCM, "Application")
DESTINATION_ROLE = Code("110152", DCM, "Destination Role ID")
SOURCE_ROLE = Code("110153", DCM, "Source Role ID")
# PS3.16 CID 404, Audit Participant Object ID Type Code, and the RFC 3881 codes PS3.15 A.5.1.2.4 keeps.
STUDY_INSTANCE_UID = Code("110180", DCM, "Study Instance UID")
SOP_CLASS_UID = Code("110181", DCM, "SOP Class UID")
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
SEARCH_CRITERIA = Code("10", "RFC-3881", "Search Criteria")
USER_IDENTIFIER = Code("11", "RFC-3881", "User Identifier")
URI = Code("12", "RFC-3881", "URI")


class Flow(Enum):
    """Which way data went between the requestor and Palisade (PS3.15 A.5.3 roles)."""

    NONE = "none"
    TO_REQUESTOR = "to_requestor"  # Palisade is the Source, the requestor the Destination
    FROM_REQUESTOR = "from_requestor"  # the requestor is the Source, Palisade the Destination


@dataclass(frozen=True)
class EventKind:
    event_id: Code
    action_code: str  # PS3.15 A.5.2 EventActionCode: C, R, U, D or E
    type_codes: tuple[Code, ...] = ()
    flow: Flow = Flow.NONE
    # PS3.15 A.5.2 EventOutcomeIndicator for a failure: 4 minor (retried), 8 serious (terminated).
    failure_indicator: str = "4"

    @property
    def requestor_role(self) -> Code | None:
        return {Flow.TO_REQUESTOR: DESTINATION_ROLE, Flow.FROM_REQUESTOR: SOURCE_ROLE}.get(self.flow)

    @property
    def palisade_role(self) -> Code:
        return {Flow.TO_REQUESTOR: SOURCE_ROLE, Flow.FROM_REQUESTOR: DESTINATION_ROLE}.get(
            self.flow, APPLICATION
        )


def _alert(type_code: Code, action_code: str = "E") -> EventKind:
    return EventKind(SECURITY_ALERT, action_code, (type_code,))


_LOGIN = EventKind(USER_AUTHENTICATION, "E", (LOGIN,))
_LOGOUT = EventKind(USER_AUTHENTICATION, "E", (LOGOUT,))
_USER_CHANGED = _alert(USER_SECURITY_ATTRIBUTES_CHANGED)
_OBJECT_RIGHTS_CHANGED = _alert(OBJECT_SECURITY_ATTRIBUTES_CHANGED)
_TRANSFERRED_IN = EventKind(INSTANCES_TRANSFERRED, "C", flow=Flow.FROM_REQUESTOR)
_SEARCH = EventKind(QUERY, "E", flow=Flow.FROM_REQUESTOR)

_KINDS: dict[str, EventKind] = {
    AuditAction.SIGN_IN: _LOGIN,
    AuditAction.SIGN_IN_FAILED: _LOGIN,
    AuditAction.SIGN_OUT: _LOGOUT,
    AuditAction.SESSION_EXPIRED: _LOGOUT,
    AuditAction.SESSION_REVOKED: _LOGOUT,
    AuditAction.SESSIONS_REVOKED_ALL: _LOGOUT,
    AuditAction.SESSIONS_ENDED: _LOGOUT,
    AuditAction.MFA_VERIFIED: _LOGIN,
    AuditAction.MFA_FAILED: _LOGIN,
    AuditAction.MFA_BACKUP_CODE_USED: _LOGIN,
    AuditAction.SHARE_LINK_OPENED: _LOGIN,
    AuditAction.SHARE_LINK_FAILED: _LOGIN,
    # PS3.15 A.5.2: 8 is "invalid password with excess retries".
    AuditAction.SIGN_IN_LOCKED_OUT: EventKind(
        SECURITY_ALERT, "E", (USER_SECURITY_ATTRIBUTES_CHANGED,), failure_indicator="8"
    ),
    AuditAction.SIGN_IN_UNLOCKED: _USER_CHANGED,
    AuditAction.PASSWORD_CHANGED: _USER_CHANGED,
    AuditAction.PASSWORD_RESET_REQUESTED: _USER_CHANGED,
    AuditAction.PASSWORD_RESET: _USER_CHANGED,
    AuditAction.MFA_ENROLLED: _USER_CHANGED,
    AuditAction.MFA_REMOVED: _USER_CHANGED,
    AuditAction.MFA_RESET: _USER_CHANGED,
    AuditAction.API_TOKEN_ISSUED: _USER_CHANGED,
    AuditAction.API_TOKEN_REVOKED: _USER_CHANGED,
    AuditAction.INVITATION_SENT: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.VIEW_STUDY: EventKind(INSTANCES_ACCESSED, "R"),
    AuditAction.VIEW_STUDY_LIST: _SEARCH,
    AuditAction.QUERY: _SEARCH,
    AuditAction.VIEW_INGEST_JOBS: _SEARCH,
    AuditAction.RETRIEVE: EventKind(INSTANCES_TRANSFERRED, "R", flow=Flow.TO_REQUESTOR),
    AuditAction.DOWNLOAD: EventKind(EXPORT, "R", flow=Flow.TO_REQUESTOR),
    AuditAction.STORE: _TRANSFERRED_IN,
    AuditAction.STORE_REJECTED: _TRANSFERRED_IN,
    AuditAction.STOW_REQUEST: _TRANSFERRED_IN,
    AuditAction.ACCESS_DENIED: _alert(USE_OF_RESTRICTED_FUNCTION),
    AuditAction.SECURITY_ALERT: _alert(USE_OF_RESTRICTED_FUNCTION),
    AuditAction.ALERT_RAISED: _alert(USE_OF_RESTRICTED_FUNCTION),
    AuditAction.ALERT_ACKNOWLEDGED: _alert(SECURITY_CONFIGURATION),
    AuditAction.ADMIN_CHANGE: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.DIMSE_ASSOCIATION: _alert(NODE_AUTHENTICATION),
    AuditAction.SHARE_GRANTED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.SHARE_REVOKED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.SHARE_LINK_CREATED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.SHARE_LINK_REVOKED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.PERMISSION_GRANTED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.PERMISSION_REMOVED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.BREAK_THE_GLASS: _alert(EMERGENCY_OVERRIDE_STARTED),
    AuditAction.AUDIT_VIEWED: EventKind(AUDIT_LOG_USED, "R"),
    AuditAction.AUDIT_EXPORTED: EventKind(AUDIT_LOG_USED, "R"),
    # A patient's access code is a credential; joining with it gives an account its patient role.
    AuditAction.ACCESS_CODE_ISSUED: _USER_CHANGED,
    AuditAction.PATIENT_JOINED: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.PATIENT_JOIN_FAILED: _LOGIN,
    # A consent decision changes the patient's record: what may be done with their images.
    AuditAction.CONSENT_GRANTED: EventKind(PATIENT_RECORD, "U"),
    AuditAction.CONSENT_WITHDRAWN: EventKind(PATIENT_RECORD, "U"),
    # Research: a project or a device mask decides what leaves the clinic and to whom.
    AuditAction.RESEARCH_PROJECT_SAVED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.DEVICE_MASK_SAVED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.DEVICE_MASK_REMOVED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.RESEARCH_EXPORT_STARTED: EventKind(BEGIN_TRANSFERRING, "E", flow=Flow.TO_REQUESTOR),
    AuditAction.RESEARCH_EXPORT_FINISHED: EventKind(EXPORT, "R", flow=Flow.TO_REQUESTOR),
    AuditAction.DEIDENTIFIED_DOWNLOAD: EventKind(EXPORT, "R", flow=Flow.TO_REQUESTOR),
    # Retention and erasure (imaging.retention): a hold or an erasure decision changes what may be done
    # with the study; its destruction deletes the instances (PS3.15 A.5.3.3 with action D).
    AuditAction.LEGAL_HOLD_PLACED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.LEGAL_HOLD_RELEASED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.ERASURE_REQUESTED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.ERASURE_APPROVED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.ERASURE_REJECTED: _OBJECT_RIGHTS_CHANGED,
    AuditAction.STUDY_DESTROYED: EventKind(INSTANCES_ACCESSED, "D"),
    # A backup copies the whole database out; a restore brings one in.
    AuditAction.BACKUP_CREATED: EventKind(EXPORT, "R", flow=Flow.TO_REQUESTOR),
    AuditAction.BACKUP_RESTORED: EventKind(IMPORT, "C", flow=Flow.FROM_REQUESTOR),
    # Onboarding and clinic administration: who belongs to a clinic, in which role, under which
    # policies, agreements and network peers.
    AuditAction.CLINIC_REQUESTED: _alert(SECURITY_CONFIGURATION, "C"),
    AuditAction.CLINIC_APPROVED: _alert(SECURITY_CONFIGURATION, "C"),
    AuditAction.CLINIC_DECLINED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.MEMBER_INVITED: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.MEMBER_JOINED: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.MEMBER_ROLE_CHANGED: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.MEMBER_REMOVED: _alert(SECURITY_ROLES_CHANGED),
    AuditAction.POLICY_CHANGED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.AGREEMENT_ACCEPTED: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.REGION_CHOSEN: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.AE_TITLE_REGISTERED: _alert(NETWORK_CONFIGURATION, "C"),
    AuditAction.AE_TITLE_REMOVED: _alert(NETWORK_CONFIGURATION, "D"),
    AuditAction.CLINIC_WENT_LIVE: _alert(SECURITY_CONFIGURATION, "U"),
    AuditAction.COMPLIANCE_REPORT_VIEWED: EventKind(AUDIT_LOG_USED, "R"),
}

# Stores that came from files (a browser upload, a bulk import) rather than over the network.
_IMPORT_SOURCES = {"upload", "import"}
_IMPORTED = EventKind(IMPORT, "C", flow=Flow.FROM_REQUESTOR)


def event_kind(event: AuditEvent) -> EventKind:
    """The DICOM audit event that `event` is."""
    kind = _KINDS.get(event.action)
    if kind is None:
        # A new action without a mapping is still exported, as what it most surely is.
        return EventKind(APPLICATION_ACTIVITY, "E")
    details = event.details or {}
    if event.action == AuditAction.STORE and details.get("source") in _IMPORT_SOURCES:
        return _IMPORTED
    if event.action == AuditAction.ADMIN_CHANGE and event.object_type.endswith("remoteae"):
        return _alert(NETWORK_CONFIGURATION, "U")
    return kind


def outcome_indicator(event: AuditEvent, kind: EventKind) -> str:
    return "0" if event.outcome == Outcome.SUCCESS else kind.failure_indicator


def mapped_actions() -> set[str]:
    return set(_KINDS)
