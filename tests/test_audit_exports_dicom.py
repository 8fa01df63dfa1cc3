"""DICOM audit messages (PS3.15 A.5, IHE ATNA): every action maps to a DICOM audit event, and every
message validates against the standard's schema (audit/exports/schema)."""

import base64
import json
from pathlib import Path

import pytest
from django.urls import reverse
from lxml import etree

import audit
from accounts.roles import Role
from audit.chain import chain_of
from audit.exports import dicom_xml
from audit.exports.events import mapped_actions
from audit.models import AuditAction, AuditEvent, Outcome
from portal.tenancy import tenant_scope
from tests.factories import InstanceFactory, StudyFactory

pytestmark = pytest.mark.django_db

SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent / "audit" / "exports" / "schema" / "dicom-audit-message.rng"
)
SCHEMA = etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


def valid_message(xml: bytes) -> etree._Element:
    """The message parsed, once it has validated against the standard's schema."""
    document = etree.fromstring(xml)
    assert SCHEMA.validate(document), f"{SCHEMA.error_log}\n{xml.decode()}"
    return document


def messages_of(tenant) -> dict[str, etree._Element]:
    events = list(AuditEvent.objects.filter(chain=chain_of(tenant.pk)).order_by("sequence"))
    with tenant_scope(tenant):
        messages = dicom_xml.audit_messages(events, tenant)
    return {event.action: valid_message(message) for event, message in zip(events, messages, strict=True)}


def coded(element: etree._Element, tag: str) -> list[str]:
    return [code.get("csd-code") for code in element.iter(tag)]


def participant(message: etree._Element, id_type: str) -> list[etree._Element]:
    return [
        element
        for element in message.iter("ParticipantObjectIdentification")
        if element.find("ParticipantObjectIDTypeCode").get("csd-code") == id_type
    ]


def test_every_action_is_mapped_to_a_dicom_audit_event():
    assert mapped_actions() == set(AuditAction.values)


@pytest.mark.parametrize("action", AuditAction.values)
def test_every_action_makes_a_message_valid_against_the_standard_schema(action, tenant, member_factory):
    user = member_factory(tenant, Role.TENANT_ADMIN)
    study = StudyFactory(tenant=tenant)
    audit.record(
        action,
        tenant=tenant,
        actor=user,
        actor_role=Role.TENANT_ADMIN,
        outcome=Outcome.SUCCESS if action != AuditAction.ACCESS_DENIED else Outcome.FAILURE,
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"reason": "not_visible"},
        source_address="192.0.2.7",
    )

    message = messages_of(tenant)[action]

    assert message.find("EventIdentification/EventID").get("codeSystemName") == "DCM"
    assert participant(message, "110180")[0].get("ParticipantObjectID") == study.study_instance_uid


def test_a_study_view_names_the_study_and_its_patient_by_identifier_only(client, tenant, member_factory):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    study = StudyFactory(tenant=tenant, patient__patient_id="PID-4711", patient__name="Doe^Jane")
    client.force_login(radiologist)

    response = client.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))

    assert response.status_code == 200
    message = messages_of(tenant)[AuditAction.VIEW_STUDY]
    event = message.find("EventIdentification")
    # PS3.15 A.5.3.3 DICOM Instances Accessed, a read.
    assert (coded(event, "EventID"), event.get("EventActionCode"), event.get("EventOutcomeIndicator")) == (
        ["110103"],
        "R",
        "0",
    )
    requestor = next(p for p in message.iter("ActiveParticipant") if p.get("UserIsRequestor") == "true")
    assert requestor.get("UserID") == str(radiologist.pk)
    assert requestor.get("NetworkAccessPointID") == "127.0.0.1"
    assert "radiologist" in coded(requestor, "RoleIDCode")
    (study_object,) = participant(message, "110180")
    assert study_object.get("ParticipantObjectID") == study.study_instance_uid
    assert (
        study_object.get("ParticipantObjectTypeCode"),
        study_object.get("ParticipantObjectTypeCodeRole"),
    ) == (
        "2",
        "3",
    )
    (patient,) = participant(message, "2")
    assert patient.get("ParticipantObjectID") == "PID-4711"
    assert patient.get("ParticipantObjectTypeCodeRole") == "1"
    text = etree.tostring(message).decode()
    assert "Doe" not in text and "Jane" not in text and radiologist.email not in text
    assert message.find("AuditSourceIdentification").get("AuditEnterpriseSiteID") == tenant.slug


def test_a_retrieve_lists_its_instances_under_their_study_and_sop_class(tenant, member_factory):
    instance = InstanceFactory(tenant=tenant)
    study_uid = instance.series.study.study_instance_uid
    audit.record(
        AuditAction.RETRIEVE,
        tenant=tenant,
        actor=member_factory(tenant, Role.RADIOLOGIST),
        actor_role=Role.RADIOLOGIST,
        object_type="instance",
        object_ids=[instance.sop_instance_uid],
        details={"service": "wado-rs", "transaction": "instance", "study": study_uid},
        source_address="2001:db8::5",
    )

    message = messages_of(tenant)[AuditAction.RETRIEVE]

    assert coded(message.find("EventIdentification"), "EventID") == ["110104"]
    roles = {p.get("UserIsRequestor"): coded(p, "RoleIDCode") for p in message.iter("ActiveParticipant")}
    # Data left Palisade (the Source) for the requestor (the Destination), PS3.15 A.5.3.4.
    assert "110152" in roles["true"] and roles["false"] == ["110153"]
    (study_object,) = participant(message, "110180")
    assert study_object.get("ParticipantObjectID") == study_uid
    sop_class = study_object.find("ParticipantObjectDescription/SOPClass")
    assert sop_class.get("UID") == instance.sop_class_uid
    assert sop_class.get("NumberOfInstances") == "1"
    assert [i.get("UID") for i in sop_class.iter("Instance")] == [instance.sop_instance_uid]


def test_a_failed_sign_in_is_a_failed_user_authentication_of_the_name_digest(tenant):
    audit.record(
        AuditAction.SIGN_IN_FAILED,
        outcome=Outcome.FAILURE,
        details={"attempted_name_hmac": "ab12"},
        source_address="198.51.100.4",
    )
    event = AuditEvent.objects.get(chain="platform")

    (xml,) = dicom_xml.audit_messages([event], None, resolve=False)

    message = valid_message(xml)
    identification = message.find("EventIdentification")
    assert coded(identification, "EventID") == ["110114"]
    assert coded(identification, "EventTypeCode") == ["110122"]
    assert identification.get("EventOutcomeIndicator") == "4"
    requestor = next(p for p in message.iter("ActiveParticipant") if p.get("UserIsRequestor") == "true")
    assert requestor.get("UserID") == "hmac:ab12"


def test_a_refusal_is_a_security_alert_even_for_a_hostile_identifier(tenant):
    audit.record(
        AuditAction.ACCESS_DENIED,
        tenant=tenant,
        outcome=Outcome.FAILURE,
        object_type="study",
        object_ids=["1.2.3\x01<script>\n"],
        details={"reason": "not_visible"},
        source_address="203.0.113.9",
    )

    message = messages_of(tenant)[AuditAction.ACCESS_DENIED]

    identification = message.find("EventIdentification")
    assert coded(identification, "EventID") == ["110113"]
    assert coded(identification, "EventTypeCode") == ["110132"]
    assert identification.get("EventOutcomeIndicator") == "4"
    assert identification.findtext("EventOutcomeDescription") == "not_visible"
    (study_object,) = participant(message, "110180")
    assert study_object.get("ParticipantObjectID") == "1.2.3\ufffd<script>\n"


def test_a_query_carries_the_keys_it_matched_on_never_the_values(tenant, member_factory):
    study = StudyFactory(tenant=tenant)
    audit.record(
        AuditAction.QUERY,
        tenant=tenant,
        actor=member_factory(tenant, Role.RADIOLOGIST),
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"service": "qido-rs", "level": "study", "results": 1, "keys": ["00100010"]},
    )

    message = messages_of(tenant)[AuditAction.QUERY]

    assert coded(message.find("EventIdentification"), "EventID") == ["110112"]
    (query,) = participant(message, "110181")
    assert query.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.1.2.2.1"
    assert query.get("ParticipantObjectTypeCodeRole") == "24"
    assert json.loads(base64.b64decode(query.findtext("ParticipantObjectQuery"))) == {
        "keys": ["00100010"],
        "level": "study",
        "results": 1,
        "service": "qido-rs",
    }


def test_reading_the_trail_is_an_audit_log_used_message(tenant, member_factory):
    audit.record(
        AuditAction.AUDIT_VIEWED,
        tenant=tenant,
        actor=member_factory(tenant, Role.AUDITOR),
        actor_role="auditor",
    )

    message = messages_of(tenant)[AuditAction.AUDIT_VIEWED]

    assert coded(message.find("EventIdentification"), "EventID") == ["110101"]
    (log,) = participant(message, "12")
    assert log.findtext("ParticipantObjectName") == "Security Audit Log"


def test_patients_are_named_by_patient_id_whether_an_event_kept_their_id_or_their_row(tenant):
    study = StudyFactory(tenant=tenant, patient__patient_id="PID-A")
    row = str(study.patient.pk)
    # A patient-level C-FIND keeps the rows it found (imaging.dimse.find) ...
    audit.record(
        AuditAction.QUERY,
        tenant=tenant,
        actor_role="remote_ae",
        object_type="patient",
        object_ids=[row],
        details={"service": "c-find", "level": "patient", "calling_ae": "WORKSTATION"},
    )
    # ... the access history page the Patient IDs it showed (audit.review), which may look like rows.
    audit.record(AuditAction.AUDIT_VIEWED, tenant=tenant, object_type="patient", object_ids=[row])

    messages = messages_of(tenant)

    found = messages[AuditAction.QUERY]
    assert [p.get("ParticipantObjectID") for p in participant(found, "2")] == ["PID-A"]
    (peer,) = [p for p in found.iter("ActiveParticipant") if p.get("UserIsRequestor") == "true"]
    assert (peer.get("UserID"), peer.get("AlternativeUserID")) == ("WORKSTATION", "AETITLES=WORKSTATION")
    (query,) = participant(found, "110181")
    assert query.get("ParticipantObjectID") == "1.2.840.10008.5.1.4.1.2.1.1"  # Patient Root FIND
    viewed = messages[AuditAction.AUDIT_VIEWED]
    assert [p.get("ParticipantObjectID") for p in participant(viewed, "2")] == [row]


def test_a_large_retrieve_counts_its_instances_without_listing_them(tenant, member_factory):
    first = InstanceFactory(tenant=tenant)
    series = first.series
    others = [InstanceFactory(tenant=tenant, series=series) for _ in range(dicom_xml.MAX_LISTED_INSTANCES)]
    audit.record(
        AuditAction.RETRIEVE,
        tenant=tenant,
        actor=member_factory(tenant, Role.RADIOLOGIST),
        object_type="study",
        object_ids=[instance.sop_instance_uid for instance in [first, *others]],
        details={"service": "wado-rs", "study": series.study.study_instance_uid},
    )

    message = messages_of(tenant)[AuditAction.RETRIEVE]

    (sop_class,) = message.iter("SOPClass")
    assert sop_class.get("NumberOfInstances") == str(dicom_xml.MAX_LISTED_INSTANCES + 1)
    assert list(sop_class.iter("Instance")) == []
