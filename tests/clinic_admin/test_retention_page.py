"""The clinic's retention page: rules, legal holds, erasure requests and certificates, each action
through imaging.retention's services and recorded in the audit trail."""

import datetime

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.models import Study
from imaging.retention.erasure import certificate_digest
from imaging.retention.models import DestructionCertificate, ErasureRequest, LegalHold, RetentionRule
from imaging.retention.rules import enforce_retention
from portal.tenancy import tenant_scope
from tests.clinic_admin.conftest import signed_in
from tests.factories import PatientFactory, SeriesFactory, StudyFactory

pytestmark = pytest.mark.django_db

REASON = "Litigation case 2026-114"


def url(tenant, name: str = "retention", **kwargs) -> str:
    return reverse(name, kwargs={"tenant_slug": tenant.slug, **kwargs})


def rule_form(**changes) -> dict:
    values = {
        "modality": "",
        "years_after_study": "10",
        "age_of_majority": "18",
        "minor_until_age": "25",
        "is_active": "on",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def old_study(tenant, **patient_fields) -> Study:
    """A CT study of an adult from 2000: past any rule of 10 years."""
    patient = PatientFactory(tenant=tenant, birth_date=datetime.date(1960, 1, 1), **patient_fields)
    study = StudyFactory(tenant=tenant, patient=patient, study_date=datetime.date(2000, 5, 1))
    SeriesFactory(tenant=tenant, study=study)
    return study


def exists(study: Study) -> bool:
    with tenant_scope(study.tenant):
        return Study.objects.filter(pk=study.pk).exists()


# --- Rules ----------------------------------------------------------------------------------------------


def test_the_clinic_admin_adds_changes_and_removes_a_rule_each_audited(tenant, admin, admin_client):
    added = admin_client.post(url(tenant, "retention-rule-new"), rule_form(modality="ct"))
    with tenant_scope(tenant):
        rule = RetentionRule.objects.get()
    changed = admin_client.post(
        url(tenant, "retention-rule-edit", pk=rule.pk), rule_form(modality="CT", years_after_study="15")
    )
    removed = admin_client.post(url(tenant, "retention-rule-remove", pk=rule.pk))

    assert [added.status_code, changed.status_code, removed.status_code] == [302, 302, 302]
    with tenant_scope(tenant):
        assert not RetentionRule.objects.exists()
    recorded = events(AuditAction.POLICY_CHANGED)
    assert [(event.details["policy"], event.details["change"]) for event in recorded] == [
        ("retention", "added"),
        ("retention", "changed"),
        ("retention", "removed"),
    ]
    assert recorded[0].details["changed"]["modality"] == [None, "CT"]
    assert recorded[1].details["changed"] == {"years_after_study": [10, 15]}
    assert all(event.actor == admin and event.object_ids == [str(rule.pk)] for event in recorded)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"years_after_study": "0"}, "greater than or equal to 1"),
        ({"modality": "C T"}, "A DICOM modality code"),
        ({"age_of_majority": "21", "minor_until_age": "18"}, "at least until they come of age"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused(tenant, admin_client, changes, error):
    response = admin_client.post(url(tenant, "retention-rule-new"), rule_form(**changes))

    assert response.status_code == 400
    assert error in response.content.decode()
    with tenant_scope(tenant):
        assert not RetentionRule.objects.exists()


def test_a_second_rule_for_the_same_modality_is_refused(tenant, admin_client):
    admin_client.post(url(tenant, "retention-rule-new"), rule_form(modality="MR"))

    response = admin_client.post(
        url(tenant, "retention-rule-new"), rule_form(modality="MR", years_after_study="3")
    )

    assert "already has a rule for MR" in response.content.decode()
    with tenant_scope(tenant):
        assert RetentionRule.objects.get().years_after_study == 10


def test_the_page_shows_what_retention_would_destroy_today(tenant, admin_client):
    due, held = old_study(tenant), old_study(tenant)
    admin_client.post(url(tenant, "retention-rule-new"), rule_form())
    admin_client.post(
        url(tenant, "retention-hold-place"),
        {"target": "study", "study_uid": held.study_instance_uid, "reason": REASON},
    )

    page = admin_client.get(url(tenant)).content.decode()

    assert "1 study past retention to destroy" in page and "1 past retention but on legal hold" in page
    listed = page.split('data-testid="retention-due"')[1].split("</table>")[0]
    assert due.study_instance_uid in listed and held.study_instance_uid not in listed
    # Reading the page, which names studies and patients by identifiers, is audited.
    viewed = events(AuditAction.VIEW_STUDY_LIST)[-1]
    assert viewed.details["page"] == "retention" and due.study_instance_uid in viewed.object_ids


# --- Legal holds ----------------------------------------------------------------------------------------


def test_a_hold_placed_by_patient_id_keeps_the_patients_studies_from_retention(tenant, admin, admin_client):
    study = old_study(tenant, patient_id="MRN-0042", name="Holdme^Patricia")
    admin_client.post(url(tenant, "retention-rule-new"), rule_form())

    placed = admin_client.post(
        url(tenant, "retention-hold-place"), {"target": "patient", "patient_id": "MRN-0042", "reason": REASON}
    )
    report = enforce_retention(tenant, dry_run=False)

    assert placed.status_code == 302
    assert report.destroyed == [] and [item.held for item in report.expired] == [True]
    assert exists(study)
    with tenant_scope(tenant):
        hold = LegalHold.objects.get()
    assert (hold.patient_id, hold.placed_by, hold.reason) == (study.patient_id, admin, REASON)
    (event,) = events(AuditAction.LEGAL_HOLD_PLACED)
    assert event.details == {"patient": study.patient_id, "study": None}
    page = admin_client.get(url(tenant)).content.decode()
    assert "MRN-0042" in page and "Holdme" not in page


def test_releasing_a_hold_needs_a_reason_and_lets_retention_destroy_again(tenant, admin_client):
    study = old_study(tenant)
    admin_client.post(url(tenant, "retention-rule-new"), rule_form())
    admin_client.post(
        url(tenant, "retention-hold-place"),
        {"target": "study", "study_uid": study.study_instance_uid, "reason": REASON},
    )
    with tenant_scope(tenant):
        hold = LegalHold.objects.get()

    admin_client.post(url(tenant, "retention-hold-release", pk=hold.pk), {"reason": ""})
    assert exists(study) and not events(AuditAction.LEGAL_HOLD_RELEASED)
    admin_client.post(url(tenant, "retention-hold-release", pk=hold.pk), {"reason": "Case closed"})
    (released,) = events(AuditAction.LEGAL_HOLD_RELEASED)
    report = enforce_retention(tenant, dry_run=False)

    assert released.object_ids == [str(hold.pk)]
    assert [certificate.study_instance_uid for certificate in report.destroyed] == [study.study_instance_uid]
    assert not exists(study)


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"target": "patient", "patient_id": "NOPE"}, "No patient of this clinic has the ID NOPE"),
        ({"target": "study", "study_uid": "1.2.3.999"}, "No study of this clinic has the UID 1.2.3.999"),
        ({"target": "patient", "patient_id": ""}, "Give the patient"),
    ],
)
def test_a_hold_on_nothing_known_is_refused(tenant, admin_client, form, error):
    response = admin_client.post(url(tenant, "retention-hold-place"), {**form, "reason": REASON})

    assert response.status_code == 400 and error in response.content.decode()
    with tenant_scope(tenant):
        assert not LegalHold.objects.exists()


def test_a_patient_id_of_another_clinic_is_unknown_here(tenant, other_tenant, admin_client):
    PatientFactory(tenant=other_tenant, patient_id="ELSEWHERE-1")

    response = admin_client.post(
        url(tenant, "retention-hold-place"),
        {"target": "patient", "patient_id": "ELSEWHERE-1", "reason": REASON},
    )

    assert "No patient of this clinic has the ID ELSEWHERE-1" in response.content.decode()


def test_the_same_patient_id_from_two_issuers_needs_the_issuer(tenant, admin_client):
    PatientFactory(tenant=tenant, patient_id="P1", issuer_of_patient_id="NORTH")
    south = PatientFactory(tenant=tenant, patient_id="P1", issuer_of_patient_id="SOUTH")

    ambiguous = admin_client.post(
        url(tenant, "retention-hold-place"), {"target": "patient", "patient_id": "P1", "reason": REASON}
    )
    admin_client.post(
        url(tenant, "retention-hold-place"),
        {"target": "patient", "patient_id": "P1", "issuer": "SOUTH", "reason": REASON},
    )

    assert "give the issuer" in ambiguous.content.decode()
    with tenant_scope(tenant):
        assert LegalHold.objects.get().patient_id == south.pk


# --- Erasure requests -----------------------------------------------------------------------------------


def request_erasure(client, study) -> ErasureRequest:
    response = client.post(
        url(study.tenant, "retention-erasure-request"),
        {"study_uid": study.study_instance_uid, "reason": "Patient's request, ticket 77"},
    )
    assert response.status_code == 302, response.content.decode()
    with tenant_scope(study.tenant):
        return ErasureRequest.objects.get(study_instance_uid=study.study_instance_uid)


def test_another_admin_approves_and_the_study_is_destroyed_with_a_certificate(
    tenant, admin, second_admin, admin_client
):
    study = old_study(tenant)
    asked = request_erasure(admin_client, study)
    other = signed_in(second_admin)

    response = other.post(url(tenant, "retention-erasure-approve", pk=asked.pk))

    assert not exists(study)
    with tenant_scope(tenant):
        certificate = DestructionCertificate.objects.get()
        asked.refresh_from_db()
    assert response["Location"] == url(tenant, "retention-certificate", certificate_id=certificate.pk)
    assert (certificate.requested_by, certificate.approved_by) == (admin, second_admin)
    assert (asked.state, asked.certificate_id) == (ErasureRequest.State.DONE, certificate.pk)
    assert [
        event.action
        for event in AuditEvent.objects.filter(
            action__in=[
                AuditAction.ERASURE_REQUESTED,
                AuditAction.ERASURE_APPROVED,
                AuditAction.STUDY_DESTROYED,
            ]
        ).order_by("pk")
    ] == [AuditAction.ERASURE_REQUESTED, AuditAction.ERASURE_APPROVED, AuditAction.STUDY_DESTROYED]
    page = other.get(response["Location"]).content.decode()
    assert study.study_instance_uid in page and certificate_digest(certificate) in page
    assert "matches</span> the digest recorded in audit event" in page
    assert "data-print" in page
    listed = other.get(url(tenant, "retention-certificates")).content.decode()
    assert str(certificate.pk) in listed


def test_the_requester_may_not_approve_while_another_admin_exists(tenant, admin, second_admin, admin_client):
    study = old_study(tenant)
    asked = request_erasure(admin_client, study)

    response = admin_client.post(
        url(tenant, "retention-erasure-approve", pk=asked.pk), {"reason": "Urgent"}, follow=True
    )

    assert "Another clinic admin must approve this request (two-person rule)." in response.content.decode()
    assert exists(study)
    assert not events(AuditAction.ERASURE_APPROVED)


def test_the_only_admin_approves_alone_with_a_reason(tenant, admin, admin_client):
    study = old_study(tenant)
    asked = request_erasure(admin_client, study)

    without = admin_client.post(url(tenant, "retention-erasure-approve", pk=asked.pk), follow=True)
    assert "only admin approves their own request with a stated reason" in without.content.decode()
    assert exists(study)
    admin_client.post(
        url(tenant, "retention-erasure-approve", pk=asked.pk), {"reason": "Sole admin, ticket 77"}
    )

    assert not exists(study)
    with tenant_scope(tenant):
        asked.refresh_from_db()
    assert asked.self_approved and asked.certificate_id is not None


def test_a_legal_hold_blocks_an_approved_erasure_through_the_page(tenant, admin, second_admin, admin_client):
    study = old_study(tenant)
    asked = request_erasure(admin_client, study)
    admin_client.post(
        url(tenant, "retention-hold-place"),
        {"target": "study", "study_uid": study.study_instance_uid, "reason": REASON},
    )

    response = signed_in(second_admin).post(
        url(tenant, "retention-erasure-approve", pk=asked.pk), follow=True
    )

    assert f"Study {study.study_instance_uid} is under a legal hold: it is kept." in response.content.decode()
    assert exists(study)
    with tenant_scope(tenant):
        assert not DestructionCertificate.objects.exists()
        assert ErasureRequest.objects.get().state == ErasureRequest.State.PENDING


def test_refusing_needs_a_reason_and_keeps_the_study(tenant, second_admin, admin_client):
    study = old_study(tenant)
    asked = request_erasure(admin_client, study)
    other = signed_in(second_admin)

    other.post(url(tenant, "retention-erasure-refuse", pk=asked.pk), {"reason": ""})
    assert not events(AuditAction.ERASURE_REJECTED)
    other.post(url(tenant, "retention-erasure-refuse", pk=asked.pk), {"reason": "Record must be kept"})

    assert exists(study)
    (event,) = events(AuditAction.ERASURE_REJECTED)
    assert (event.actor, event.object_ids) == (second_admin, [study.study_instance_uid])
    with tenant_scope(tenant):
        assert ErasureRequest.objects.get().state == ErasureRequest.State.REJECTED


def test_an_erasure_of_an_unknown_study_is_refused(tenant, admin_client):
    response = admin_client.post(
        url(tenant, "retention-erasure-request"), {"study_uid": "1.2.3.4", "reason": "ticket 1"}
    )

    assert (
        response.status_code == 400
        and "No study of this clinic has the UID 1.2.3.4" in response.content.decode()
    )
    assert not events(AuditAction.ERASURE_REQUESTED)


def test_a_real_study_erased_through_the_pages_leaves_no_copy_and_a_certificate_of_its_copies(
    tenant, admin_client, second_admin
):
    from tests.retention.studies import blob_path, ingest_samples

    study = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    with tenant_scope(tenant):
        from imaging.models import StoredObject

        stored = StoredObject.objects.get(instance__series__study=study)
    asked = request_erasure(admin_client, study)

    signed_in(second_admin).post(url(tenant, "retention-erasure-approve", pk=asked.pk))

    assert not blob_path(stored).exists()
    with tenant_scope(tenant):
        certificate = DestructionCertificate.objects.get()
    assert certificate.object_count == 1 and [stored.region, stored.storage_name] in certificate.copies
    page = signed_in(second_admin).get(url(tenant, "retention-certificate", certificate_id=certificate.pk))
    assert stored.storage_name in page.content.decode()


# --- Who may --------------------------------------------------------------------------------------------


def test_the_certificate_of_another_clinic_is_404(tenant, other_tenant, member_factory, admin_client):
    other_admin = member_factory(other_tenant, Role.TENANT_ADMIN)
    study = old_study(other_tenant)
    other_client = signed_in(other_admin)
    other_client.post(
        url(other_tenant, "retention-erasure-request"),
        {"study_uid": study.study_instance_uid, "reason": "ticket"},
    )
    with tenant_scope(other_tenant):
        asked = ErasureRequest.objects.get()
    other_client.post(url(other_tenant, "retention-erasure-approve", pk=asked.pk), {"reason": "Sole admin"})
    with tenant_scope(other_tenant):
        certificate = DestructionCertificate.objects.get()

    assert (
        admin_client.get(url(tenant, "retention-certificate", certificate_id=certificate.pk)).status_code
        == 404
    )
    assert admin_client.post(url(tenant, "retention-erasure-approve", pk=asked.pk)).status_code == 404
