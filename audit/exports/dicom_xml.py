"""Audit events as DICOM audit messages: PS3.15 A.5 XML, valid against the standard's schema
(audit/exports/schema/dicom-audit-message.rng), as IHE ATNA sends them over syslog.

The schema asks every participant object for a name or a query. Palisade never puts a patient's
name (or any other PHI value) in an export, so objects other than a query and the audit log carry
an empty ParticipantObjectName: a valid token that says nothing.
"""

import base64
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC

from audit.exports import agents, events
from audit.exports.events import Code, EventKind
from audit.exports.objects import EventObjects, PatientRef, StudyRef, objects_of_events
from audit.models import AuditAction, AuditEvent, Outcome
from portal.models import Tenant

# PS3.4 Annex C: the FIND SOP classes a study search is answered by (PS3.15 A.5.3.10 names the
# query's SOP class as its participant object).
_STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
_DICOM_SEARCHES = {"qido-rs", "c-find"}
# PS3.15 A.5.1.2.1: 4 is an application server process.
_APPLICATION_SERVER = "4"
_LOCAL_SCHEME = "Palisade"
# Most SOP Instance UIDs one study of a message lists one by one (beyond, only their numbers).
MAX_LISTED_INSTANCES = 50
# Characters XML 1.0 cannot carry at all: an identifier taken from a hostile request (a UID in a
# refused URL) must not make the whole message unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _coded(parent: ET.Element, tag: str, code: Code) -> ET.Element:
    return ET.SubElement(
        parent, tag, {"csd-code": code.code, "codeSystemName": code.scheme, "originalText": code.meaning}
    )


def _local(code: str, meaning: str) -> Code:
    return Code(code, _LOCAL_SCHEME, meaning or code)


def timestamp(event: AuditEvent) -> str:
    """PS3.15 A.5.2.5: UTC, unambiguous as to the time zone."""
    return event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _event_identification(message: ET.Element, event: AuditEvent, kind: EventKind) -> None:
    identification = ET.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": kind.action_code,
            "EventDateTime": timestamp(event),
            "EventOutcomeIndicator": events.outcome_indicator(event, kind),
        },
    )
    _coded(identification, "EventID", kind.event_id)
    for type_code in kind.type_codes:
        _coded(identification, "EventTypeCode", type_code)
    reason = (event.details or {}).get("reason")
    if event.outcome != Outcome.SUCCESS and isinstance(reason, str) and reason:
        ET.SubElement(identification, "EventOutcomeDescription").text = _xml_safe(reason)


def _active_participants(
    message: ET.Element, event: AuditEvent, kind: EventKind, tenant: Tenant | None
) -> None:
    requestor = agents.requestor_of(event)
    if requestor is not None:
        attributes = {"UserID": _xml_safe(requestor.user_id), "UserIsRequestor": "true"}
        if requestor.alternative_id:
            attributes["AlternativeUserID"] = _xml_safe(requestor.alternative_id)
        if requestor.address:
            # PS3.15 A.5.2: 2 is an IP address.
            attributes["NetworkAccessPointID"] = requestor.address
            attributes["NetworkAccessPointTypeCode"] = "2"
        participant = ET.SubElement(message, "ActiveParticipant", attributes)
        role = kind.requestor_role
        if role is not None:
            _coded(participant, "RoleIDCode", role)
        if requestor.role:
            _coded(participant, "RoleIDCode", _local(requestor.role, requestor.role.replace("_", " ")))
    palisade = {"UserID": agents.source_id(), "UserIsRequestor": "false" if requestor else "true"}
    if tenant is not None:
        palisade["AlternativeUserID"] = f"AETITLES={tenant.ae_title}"
    participant = ET.SubElement(message, "ActiveParticipant", palisade)
    _coded(participant, "RoleIDCode", kind.palisade_role)


def _audit_source(message: ET.Element, tenant: Tenant | None) -> None:
    attributes = {"AuditSourceID": agents.source_id()}
    if tenant is not None:
        attributes["AuditEnterpriseSiteID"] = tenant.slug
    source = ET.SubElement(message, "AuditSourceIdentification", attributes)
    ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": _APPLICATION_SERVER})


def _participant_object(
    message: ET.Element,
    object_id: str,
    id_type: Code,
    type_code: str,
    role: str,
    *,
    name: str = "",
    query: bytes | None = None,
) -> ET.Element:
    participant = ET.SubElement(
        message,
        "ParticipantObjectIdentification",
        {
            "ParticipantObjectID": _xml_safe(object_id),
            "ParticipantObjectTypeCode": type_code,
            "ParticipantObjectTypeCodeRole": role,
        },
    )
    _coded(participant, "ParticipantObjectIDTypeCode", id_type)
    if query is not None:
        ET.SubElement(participant, "ParticipantObjectQuery").text = base64.b64encode(query).decode("ascii")
    else:
        ET.SubElement(participant, "ParticipantObjectName").text = name
    return participant


def patient_object_id(patient: PatientRef) -> str:
    # IHE ITI TF-2 convention: the Patient ID in HL7 CX form, with its issuer when known.
    return f"{patient.patient_id}^^^{patient.issuer}" if patient.issuer else patient.patient_id


def _patient(message: ET.Element, patient: PatientRef) -> None:
    # PS3.15 A.5.3: the patient is a Person (1) in the Patient role (1).
    _participant_object(message, patient_object_id(patient), events.PATIENT_NUMBER, "1", "1")


def _study(message: ET.Element, study: StudyRef) -> None:
    # PS3.15 A.5.3: a study is a System Object (2) in the Report role (3), with the SOP classes and
    # the number of instances involved, and the instances themselves when they are few: collectors
    # commonly cut syslog messages at 8 KiB or 64 KiB, and a whole study retrieved can be thousands.
    participant = _participant_object(message, study.uid, events.STUDY_INSTANCE_UID, "2", "3")
    if study.instances:
        description = ET.SubElement(participant, "ParticipantObjectDescription")
        listed = sum(len(instances) for instances in study.instances.values()) <= MAX_LISTED_INSTANCES
        for sop_class, instances in study.instances.items():
            sop = ET.SubElement(
                description, "SOPClass", {"UID": sop_class, "NumberOfInstances": str(len(instances))}
            )
            for uid in instances if listed else ():
                ET.SubElement(sop, "Instance", {"UID": uid})


def _query(message: ET.Element, event: AuditEvent, query: dict) -> None:
    encoded = json.dumps(query, sort_keys=True, separators=(",", ":")).encode()
    dicom = query.get("service") in _DICOM_SEARCHES or event.action == AuditAction.VIEW_STUDY_LIST
    if dicom:
        sop_class = _PATIENT_ROOT_FIND if query.get("level") == "patient" else _STUDY_ROOT_FIND
        participant = _participant_object(message, sop_class, events.SOP_CLASS_UID, "2", "24", query=encoded)
    else:
        participant = _participant_object(
            message, event.action, events.SEARCH_CRITERIA, "2", "24", query=encoded
        )
    if query.get("service"):
        value = base64.b64encode(str(query["service"]).encode()).decode("ascii")
        ET.SubElement(participant, "ParticipantObjectDetail", {"type": "service", "value": value})


def _record(message: ET.Element, object_type: str, object_id: str) -> None:
    if object_type == "user":
        # A Person (1) whose security attributes are at stake: Security User Entity (11).
        _participant_object(message, object_id, events.USER_IDENTIFIER, "1", "11")
    elif object_type == "audit_event":
        # What the audit trail was searched for (a Patient ID, a Study UID: audit.review).
        _participant_object(message, object_id, events.SEARCH_CRITERIA, "2", "24")
    elif object_type == "ingest_job":
        _participant_object(message, object_id, _local(object_type, "ingest job"), "2", "20")
    else:
        # Tokens, shares, links, peers' registrations, routes: Security Resources (13).
        label = object_type.replace("_", " ")
        _participant_object(message, object_id, _local(object_type, label), "2", "13")


def _audit_log(message: ET.Element, chain: str) -> None:
    # PS3.15 A.5.3.2: the audit log is a System Object (2), Security Resource (13), named so.
    _participant_object(
        message, agents.audit_trail_uri(chain), events.URI, "2", "13", name="Security Audit Log"
    )


def build_message(event: AuditEvent, objects: EventObjects, tenant: Tenant | None) -> ET.Element:
    kind = events.event_kind(event)
    message = ET.Element("AuditMessage")
    _event_identification(message, event, kind)
    _active_participants(message, event, kind, tenant)
    _audit_source(message, tenant)
    for patient in objects.patients:
        _patient(message, patient)
    for study in objects.studies:
        _study(message, study)
    if objects.query is not None:
        _query(message, event, objects.query)
    if kind.event_id == events.AUDIT_LOG_USED:
        _audit_log(message, event.chain)
    for object_type, object_id in objects.records:
        if object_type != "audit_chain":
            _record(message, object_type, object_id)
    return message


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def to_bytes(message: ET.Element) -> bytes:
    """UTF-8 with an XML declaration, on one line: no value Palisade writes holds a line break."""
    return _DECLARATION + ET.tostring(message, encoding="utf-8")


def audit_messages(events_: list[AuditEvent], tenant: Tenant | None, *, resolve: bool = True) -> list[bytes]:
    """One DICOM audit message per event, in order. Call inside the events' tenant scope (see
    objects_of_events for `resolve`)."""
    objects = objects_of_events(events_, resolve=resolve)
    return [to_bytes(build_message(event, objects[event.sequence], tenant)) for event in events_]
