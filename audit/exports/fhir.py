"""Audit events as FHIR R4 AuditEvent resources (plain JSON dicts), following IHE Basic Audit Log
Patterns (BALP) where they fit, and Bundles of them.

- type and subtype: the DICOM event ID and event type codes (audit/exports/events.py), plus the
  FHIR RESTful interaction for requests made through a web API (BALP: read, search-type, create).
- agent: the requestor (who, requestor=true, role, and the client's network address), and
  Palisade itself in the DICOM role the data flow gives it (BALP's client/server pattern).
- source: this installation (observer) at the clinic (site).
- entity: the patient (Patient identifier), each study (ImagingStudy identifier urn:dicom:uid), the
  query (base64) and Palisade's own records; identifiers only, never a name.
"""

import base64
import json
import uuid

from audit.exports import agents, events
from audit.exports.dicom_xml import timestamp
from audit.exports.events import Code, EventKind
from audit.exports.objects import EventObjects, objects_of_events
from audit.models import AuditEvent, Outcome
from portal.models import Tenant

DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
_RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_NETWORK_TYPE = "http://terminology.hl7.org/CodeSystem/network-type"
_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# FHIR ImagingStudy.identifier: a DICOM UID as an OID URN in the urn:dicom:uid system.
_DICOM_UID_SYSTEM = "urn:dicom:uid"
# Which web API service did which RESTful interaction (BALP RESTful activities).
_INTERACTIONS = {"wado-rs": "read", "qido-rs": "search-type", "stow-rs": "create", "fhir": "search-type"}
# Stable resource ids and fullUrls: one UUID per (chain, sequence).
_NAMESPACE = uuid.UUID("6f1b7b5e-5d0c-4d7f-9a55-2f3c1f0a7c11")


def _coding(code: Code) -> dict:
    # Every code the FHIR export takes from audit/exports/events.py is a DICOM (DCM) one.
    return {"system": DICOM_SYSTEM, "code": code.code, "display": code.meaning}


def resource_id(event: AuditEvent) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{event.chain}/{event.sequence}"))


def _subtypes(event: AuditEvent, kind: EventKind) -> list[dict]:
    subtypes = [_coding(code) for code in kind.type_codes]
    interaction = _INTERACTIONS.get(str((event.details or {}).get("service", "")))
    if interaction:
        subtypes.append({"system": _RESTFUL_INTERACTION, "code": interaction})
    return subtypes


def _role_coding(code: Code) -> dict:
    return {"coding": [_coding(code)]}


def _agents(event: AuditEvent, kind: EventKind, tenant: Tenant | None) -> list[dict]:
    found = []
    requestor = agents.requestor_of(event)
    if requestor is not None:
        agent: dict = {"requestor": True}
        if requestor.is_member:
            agent["who"] = {"identifier": {"system": agents.USER_SYSTEM, "value": requestor.user_id}}
        elif requestor.is_peer:
            agent["who"] = {"identifier": {"system": agents.AE_TITLE_SYSTEM, "value": requestor.user_id}}
        else:
            agent["who"] = {"display": requestor.user_id}
        if kind.action_code == "R":
            # BALP: whoever receives what was read is the information recipient.
            agent["type"] = {"coding": [{"system": _PARTICIPATION, "code": "IRCP"}]}
        roles = [_role_coding(kind.requestor_role)] if kind.requestor_role else []
        if requestor.role:
            roles.append({"coding": [{"system": agents.ROLE_SYSTEM, "code": requestor.role}]})
        if roles:
            agent["role"] = roles
        if requestor.address:
            agent["network"] = {"address": requestor.address, "type": "2"}
        found.append(agent)
    palisade: dict = {
        "type": _role_coding(kind.palisade_role),
        "who": {"identifier": {"value": agents.source_id()}, "display": agents.source_id()},
        "requestor": requestor is None,
    }
    if tenant is not None:
        palisade["altId"] = f"AETITLES={tenant.ae_title}"
    found.append(palisade)
    return found


def _entity(what: dict, entity_type: str, role: str, **extra) -> dict:
    return {
        "what": what,
        "type": {"system": _ENTITY_TYPE, "code": entity_type},
        "role": {"system": _OBJECT_ROLE, "code": role},
        **extra,
    }


def _entities(event: AuditEvent, kind: EventKind, objects: EventObjects, tenant: Tenant | None) -> list[dict]:
    found = []
    for patient in objects.patients:
        identifier = {"system": agents.patient_id_system(tenant), "value": patient.patient_id}
        if patient.issuer:
            identifier["assigner"] = {"display": patient.issuer}
        # BALP: the patient entity is a Person (1) in the Patient role (1).
        found.append(_entity({"type": "Patient", "identifier": identifier}, "1", "1"))
    for study in objects.studies:
        what = {
            "type": "ImagingStudy",
            "identifier": {"system": _DICOM_UID_SYSTEM, "value": f"urn:oid:{study.uid}"},
        }
        details = [
            {"type": "SOPClass", "valueString": f"{sop_class} ({len(instances)})"}
            for sop_class, instances in study.instances.items()
        ]
        # A study is a System Object (2) in the Report role (3), as DICOM audit messages have it.
        found.append(_entity(what, "2", "3", **({"detail": details} if details else {})))
    if objects.query is not None:
        query = json.dumps(objects.query, sort_keys=True, separators=(",", ":")).encode()
        found.append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2"},
                "role": {"system": _OBJECT_ROLE, "code": "24"},
                "query": base64.b64encode(query).decode("ascii"),
            }
        )
    if kind.event_id == events.AUDIT_LOG_USED:
        what = {"identifier": {"system": "urn:ietf:rfc:3986", "value": agents.audit_trail_uri(event.chain)}}
        found.append(_entity(what, "2", "13", name="Security Audit Log"))
    for object_type, object_id in objects.records:
        if object_type == "audit_chain":
            continue
        what = {"identifier": {"system": agents.record_system(object_type), "value": object_id}}
        if object_type == "user":
            found.append(_entity(what, "1", "11"))
        elif object_type == "audit_event":
            # What the audit trail was searched for (a Patient ID, a Study UID: audit.review).
            found.append(
                _entity({"identifier": {"value": object_id}}, "2", "24", description="search criteria")
            )
        else:
            found.append(_entity(what, "2", "20" if object_type == "ingest_job" else "13"))
    return found


def audit_event(event: AuditEvent, objects: EventObjects, tenant: Tenant | None) -> dict:
    """One FHIR R4 AuditEvent."""
    kind = events.event_kind(event)
    resource: dict = {
        "resourceType": "AuditEvent",
        "id": resource_id(event),
        "type": _coding(kind.event_id),
        "action": kind.action_code,
        "recorded": timestamp(event),
        "outcome": events.outcome_indicator(event, kind),
        "agent": _agents(event, kind, tenant),
        "source": {
            "site": tenant.slug if tenant else "platform",
            "observer": {"display": agents.source_id()},
            "type": [{"system": _SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    subtypes = _subtypes(event, kind)
    if subtypes:
        resource["subtype"] = subtypes
    reason = (event.details or {}).get("reason")
    if event.outcome != Outcome.SUCCESS and isinstance(reason, str) and reason:
        resource["outcomeDesc"] = reason
    entities = _entities(event, kind, objects, tenant)
    if entities:
        resource["entity"] = entities
    return resource


def audit_events(events_: list[AuditEvent], tenant: Tenant | None) -> list[dict]:
    """One AuditEvent per event, in order. Call inside the events' tenant scope."""
    objects = objects_of_events(events_, resolve=tenant is not None)
    return [audit_event(event, objects[event.sequence], tenant) for event in events_]


def searchset(resources: list[dict], *, total: int, links: dict[str, str]) -> dict:
    """A FHIR Bundle of type searchset (R4 Bundle, search results)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource, "search": {"mode": "match"}}
            for resource in resources
        ],
    }
