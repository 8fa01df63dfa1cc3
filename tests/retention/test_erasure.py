"""Erasure with crypto-shredding: the key first, then every copy, then a certificate in the audit trail."""

import io

import pytest
from django.core.management import call_command

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.crypto.keys import StudyShreddedError, study_data_key
from imaging.crypto.models import StudyKey
from imaging.models import StoredObject, Study
from imaging.objects import plaintext_chunks
from imaging.replication.models import ObjectCopy
from imaging.replication.services import replicate_copy
from imaging.retention.erasure import (
    ErasureRefused,
    approve_erasure,
    certificate_digest,
    reject_erasure,
    request_erasure,
)
from imaging.retention.holds import place_hold, release_hold
from imaging.retention.models import DestructionCertificate, ErasureRequest
from portal.tenancy import tenant_scope
from tests.retention.studies import blob_path, ingest_samples, read_all
from tests.retention.test_backup_restore import backup, restore, wipe_database

REASON = "Erasure asked by the patient, ticket 4711"


@pytest.fixture
def admins(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN), member_factory(tenant, Role.TENANT_ADMIN)


def stored_of(study: Study) -> StoredObject:
    return StoredObject.objects.select_related("instance__series__study").get(instance__series__study=study)


def erase(study: Study, requester, approver, approval_reason: str = "") -> DestructionCertificate:
    with tenant_scope(study.tenant):
        request = request_erasure(study, requested_by=requester, reason=REASON)
        return approve_erasure(request, approved_by=approver, reason=approval_reason)


@pytest.mark.django_db
def test_an_approved_erasure_deletes_every_copy_and_certifies_it_in_the_audit_trail(
    tenant, admins, master_key_file
):
    studies = ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    erased, kept = studies["CT_small.dcm"], studies["MR_small.dcm"]
    with tenant_scope(tenant):
        stored = stored_of(erased)
        kept_plaintext = b"".join(plaintext_chunks(stored_of(kept)))

    certificate = erase(erased, *admins)

    assert not blob_path(stored).exists()
    # Only the kept study still has a secret.
    assert len(list((master_key_file.parent / "study-secrets").rglob("*.key"))) == 1
    with tenant_scope(tenant):
        assert not Study.objects.filter(pk=erased.pk).exists()
        assert not StudyKey.objects.filter(study_id=erased.pk).exists()
        assert b"".join(plaintext_chunks(stored_of(kept))) == kept_plaintext
        certificate = DestructionCertificate.objects.get(pk=certificate.pk)
        request = ErasureRequest.objects.get()
    assert (certificate.study_ref, certificate.study_instance_uid) == (erased.pk, erased.study_instance_uid)
    assert (certificate.series_count, certificate.instance_count, certificate.object_count) == (1, 1, 1)
    assert certificate.ciphertext_bytes == stored.ciphertext_size
    assert [stored.region, stored.storage_name] in certificate.copies
    assert (certificate.requested_by, certificate.approved_by) == admins
    assert certificate.key_shredded_at <= certificate.completed_at
    assert (request.state, request.certificate_id) == (ErasureRequest.State.DONE, certificate.pk)
    event = AuditEvent.objects.get(pk=certificate.audit_event_id)
    assert event.action == AuditAction.STUDY_DESTROYED
    assert event.object_ids == [erased.study_instance_uid]
    assert event.details["certificate_sha256"] == certificate_digest(certificate)
    assert list(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="erasure_").values_list(
            "action", flat=True
        )
    ) == [AuditAction.ERASURE_APPROVED, AuditAction.ERASURE_REQUESTED]
    call_command("verify_audit_chain", stdout=io.StringIO())


@pytest.mark.django_db
def test_the_requester_cannot_approve_alone_when_another_admin_exists(tenant, admins):
    erased = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    requester, _ = admins

    with pytest.raises(ErasureRefused, match="Another clinic admin must approve"):
        erase(erased, requester, requester, approval_reason="I am sure")
    with tenant_scope(tenant):
        assert Study.objects.filter(pk=erased.pk).exists()
        study_data_key(erased, create=False)


@pytest.mark.django_db
def test_a_clinic_with_one_admin_approves_alone_with_a_stated_reason(tenant, member_factory):
    erased = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    only_admin = member_factory(tenant, Role.TENANT_ADMIN)
    member_factory(tenant, Role.RADIOLOGIST)

    with pytest.raises(ErasureRefused, match="with a stated reason"):
        erase(erased, only_admin, only_admin)
    with tenant_scope(tenant):
        request = ErasureRequest.objects.get()
        approve_erasure(request, approved_by=only_admin, reason="Sole admin of a one-doctor practice")
        request.refresh_from_db()
    assert request.self_approved and request.state == ErasureRequest.State.DONE


@pytest.mark.django_db
def test_only_clinic_admins_request_or_approve_and_a_rejection_keeps_the_study(
    tenant, admins, member_factory
):
    erased = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    radiologist = member_factory(tenant, Role.RADIOLOGIST)

    with tenant_scope(tenant):
        with pytest.raises(ErasureRefused, match="may not request"):
            request_erasure(erased, requested_by=radiologist, reason=REASON)
        request = request_erasure(erased, requested_by=admins[0], reason=REASON)
        with pytest.raises(ErasureRefused, match="may not approve"):
            approve_erasure(request, approved_by=radiologist)
        reject_erasure(request, rejected_by=admins[1], reason="Retention period still running")
        with pytest.raises(ErasureRefused, match="is rejected, not pending"):
            approve_erasure(request, approved_by=admins[1])
        assert Study.objects.filter(pk=erased.pk).exists()


@pytest.mark.django_db
def test_a_legal_hold_on_the_patient_blocks_erasure_until_released(tenant, admins):
    erased = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    with tenant_scope(tenant):
        hold = place_hold(tenant, placed_by=admins[0], reason="Litigation 2026-17", patient=erased.patient)

    with pytest.raises(ErasureRefused, match="under a legal hold"):
        erase(erased, *admins)
    with tenant_scope(tenant):
        assert Study.objects.filter(pk=erased.pk).exists()
        release_hold(hold, released_by=admins[1], reason="Case closed")
        approve_erasure(ErasureRequest.objects.get(), approved_by=admins[1])
        assert not Study.objects.filter(pk=erased.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_shredded_study_stays_undecryptable_from_its_replica_and_an_earlier_backup(
    tenant, admins, tmp_path
):
    tenant.replica_regions = ["eu-2"]
    tenant.save()
    studies = ingest_samples(tenant, ["CT_small.dcm", "MR_small.dcm"])
    erased = studies["CT_small.dcm"]
    with tenant_scope(tenant):
        for copy in ObjectCopy.objects.select_related("stored_object"):
            replicate_copy(copy)
        stored = stored_of(erased)
    replica = blob_path(stored, "eu-2")
    ciphertext = replica.read_bytes()
    backup(tmp_path / "before-erasure")
    kept_before = {pk: data for pk, data in read_all(tenant).items() if pk != str(stored.pk)}

    certificate = erase(erased, *admins)

    assert ["eu-2", stored.storage_name] in certificate.copies
    assert not replica.exists() and not blob_path(stored).exists()
    # The earlier backup is restored into an empty database, and the replica's ciphertext is still
    # somewhere (a storage snapshot): the wrapped key is back, its secret is not.
    wipe_database()
    replica.parent.mkdir(parents=True, exist_ok=True)
    replica.write_bytes(ciphertext)
    output = restore(tmp_path / "before-erasure", "--keep-shredded")

    assert f"study #{erased.pk} {erased.study_instance_uid}: crypto-shredded after this backup" in output
    with tenant_scope(tenant):
        restored = stored_of(erased)
        assert StudyKey.objects.filter(study_id=erased.pk).exists()
        restored.region = "eu-2"
        with pytest.raises(StudyShreddedError, match=f"Study #{erased.pk} was crypto-shredded"):
            b"".join(plaintext_chunks(restored))
    after = read_all_but(tenant, str(stored.pk))
    assert after == kept_before


@pytest.mark.django_db(transaction=True)
def test_restoring_an_earlier_backup_applies_the_erasures_made_since_again(tenant, admins, tmp_path):
    erased = ingest_samples(tenant, ["CT_small.dcm"])["CT_small.dcm"]
    with tenant_scope(tenant):
        stored = stored_of(erased)
    ciphertext = blob_path(stored).read_bytes()
    backup(tmp_path / "before-erasure")
    erase(erased, *admins)
    wipe_database()
    blob_path(stored).parent.mkdir(parents=True, exist_ok=True)
    blob_path(stored).write_bytes(ciphertext)

    output = restore(tmp_path / "before-erasure")

    assert f"study #{erased.pk} {erased.study_instance_uid}: certificate" in output
    assert "erasure applied again" in output
    assert not blob_path(stored).exists()
    with tenant_scope(tenant):
        assert not Study.objects.filter(pk=erased.pk).exists()
        certificate = DestructionCertificate.objects.get()
    assert certificate.basis == DestructionCertificate.Basis.RESTORE
    call_command("verify_audit_chain", stdout=io.StringIO())


def read_all_but(tenant, skipped: str) -> dict[str, bytes]:
    with tenant_scope(tenant):
        objects = StoredObject.objects.select_related("instance__series__study").exclude(pk=skipped)
        return {str(stored.pk): b"".join(plaintext_chunks(stored)) for stored in objects}
