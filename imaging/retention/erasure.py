"""Destroying a study: crypto-shred its key, delete every copy, certify it in the audit trail.

The order matters. The study key goes first (imaging.crypto.keys.shred_study_key, which destroys the
study's secret in the key provider): from then on no copy can be decrypted — not the replicas, not a
copy that a deletion below misses, not the blobs an earlier database backup points to. Only then are
the copies deleted and the index rows removed. A run interrupted half-way is finished by running it
again: shredding an already shredded study and deleting a copy already gone are not errors.

Erasure on request follows a two-person rule (see ErasureRequest): one clinic admin asks, another
approves; a clinic with a single admin may have that admin approve with a stated reason.
"""

import hashlib
import json

from django.db import transaction
from django.utils import timezone

import audit
from accounts import policy
from accounts.models import User
from audit.models import AuditAction
from imaging import storage
from imaging.crypto.keys import shred_study_key
from imaging.models import SeriesThumbnail, StoredObject, Study
from imaging.replication.services import delete_all_copies
from imaging.retention.holds import active_holds_on
from imaging.retention.models import DestructionCertificate, ErasureRequest, RetentionRule
from portal.models import Tenant


class ErasureRefused(Exception):
    """The erasure may not happen as asked (the message says why, with identifiers only)."""


def may_erase(user: User, tenant: Tenant) -> bool:
    """Whether `user` may request or approve erasures in `tenant`: its clinic admins."""
    return policy.can(user, policy.Action.MANAGE_RETENTION, tenant)


def request_erasure(study: Study, *, requested_by: User, reason: str) -> ErasureRequest:
    """A clinic admin asks for `study` to be destroyed. Call inside the tenant's scope."""
    if not may_erase(requested_by, study.tenant):
        raise ErasureRefused(f"User #{requested_by.pk} may not request erasures in this clinic.")
    if not reason.strip():
        raise ErasureRefused("An erasure request needs a reason.")
    with transaction.atomic():
        request = ErasureRequest.objects.create(
            tenant=study.tenant,
            study=study,
            study_instance_uid=study.study_instance_uid,
            reason=reason.strip(),
            requested_by=requested_by,
        )
        _audit_request(AuditAction.ERASURE_REQUESTED, request, requested_by)
    return request


def approve_erasure(
    request: ErasureRequest, *, approved_by: User, reason: str = ""
) -> DestructionCertificate:
    """Approve and carry out `request`: returns the certificate of destruction.

    The approver is another clinic admin; or the requester, when they are the clinic's only admin
    and state a reason for deciding alone."""
    tenant = request.tenant
    if request.state != ErasureRequest.State.PENDING:
        raise ErasureRefused(f"Erasure request {request.pk} is {request.state}, not pending.")
    if not may_erase(approved_by, tenant):
        raise ErasureRefused(f"User #{approved_by.pk} may not approve erasures in this clinic.")
    self_approved = approved_by.pk == request.requested_by_id
    if self_approved:
        if _eraser_count(tenant) > 1:
            raise ErasureRefused("Another clinic admin must approve this request (two-person rule).")
        if not reason.strip():
            raise ErasureRefused("The clinic's only admin approves their own request with a stated reason.")
    if request.study is None:
        raise ErasureRefused(f"Erasure request {request.pk}: its study no longer exists.")
    if active_holds_on(request.study):
        raise ErasureRefused(f"Study {request.study_instance_uid} is under a legal hold: it is kept.")
    request.decided_by, request.decided_at = approved_by, timezone.now()
    request.decision_reason, request.self_approved = reason.strip(), self_approved
    _audit_request(AuditAction.ERASURE_APPROVED, request, approved_by)
    return destroy_study(
        request.study,
        basis=DestructionCertificate.Basis.ERASURE_REQUEST,
        requested_by=request.requested_by,
        approved_by=approved_by,
        reason=request.reason,
        erasure_request=request,
    )


def reject_erasure(request: ErasureRequest, *, rejected_by: User, reason: str) -> None:
    """Refuse `request`; the study is kept."""
    if request.state != ErasureRequest.State.PENDING:
        raise ErasureRefused(f"Erasure request {request.pk} is {request.state}, not pending.")
    if not may_erase(rejected_by, request.tenant):
        raise ErasureRefused(f"User #{rejected_by.pk} may not decide erasures in this clinic.")
    with transaction.atomic():
        request.state, request.decided_by, request.decided_at = (
            ErasureRequest.State.REJECTED,
            rejected_by,
            timezone.now(),
        )
        request.decision_reason = reason.strip()
        request.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        _audit_request(AuditAction.ERASURE_REJECTED, request, rejected_by)


def destroy_study(
    study: Study,
    *,
    basis: DestructionCertificate.Basis,
    requested_by: User | None = None,
    approved_by: User | None = None,
    reason: str = "",
    rule: RetentionRule | None = None,
    erasure_request: ErasureRequest | None = None,
) -> DestructionCertificate:
    """Shred, delete every copy, remove the index rows and certify. Call inside the tenant's scope,
    outside any transaction: the shredding must be durable before anything is deleted."""
    if active_holds_on(study):
        raise ErasureRefused(f"Study {study.study_instance_uid} is under a legal hold: it is kept.")
    objects = list(StoredObject.objects.filter(instance__series__study=study).order_by("created_at"))
    thumbnails = list(SeriesThumbnail.objects.filter(series__study=study).exclude(storage_name=""))
    inventory = {
        "series_count": study.series.count(),
        "instance_count": sum(series.instances.count() for series in study.series.all()),
        "object_count": len(objects),
        "plaintext_bytes": sum(stored.plaintext_size for stored in objects),
        "ciphertext_bytes": sum(stored.ciphertext_size for stored in objects),
    }

    shred_study_key(study)
    key_shredded_at = timezone.now()

    copies: list[list[str]] = []
    for stored in objects:
        copies.extend([region, name] for region, name in delete_all_copies(stored))
    for thumbnail in thumbnails:
        storage.delete_object(thumbnail.region, thumbnail.storage_name)
        copies.append([thumbnail.region, thumbnail.storage_name])

    with transaction.atomic():
        study_ref, study_uid, patient_ref = study.pk, study.study_instance_uid, study.patient_id
        # Two runs racing on one study (beat and an operator): the second finds it gone and certifies
        # nothing twice. The row lock (PostgreSQL; SQLite's write lock) serialises them here.
        if not Study.objects.select_for_update().filter(pk=study.pk).exists():
            raise ErasureRefused(f"Study {study_uid} was already destroyed.")
        Study.objects.filter(pk=study.pk).delete()
        certificate = DestructionCertificate.objects.create(
            tenant=study.tenant,
            basis=basis,
            study_ref=study_ref,
            study_instance_uid=study_uid,
            patient_ref=patient_ref,
            rule=rule,
            requested_by=requested_by,
            approved_by=approved_by,
            reason=reason,
            copies=copies,
            key_shredded_at=key_shredded_at,
            completed_at=timezone.now(),
            **inventory,
        )
        certificate.audit_event = audit.record(
            AuditAction.STUDY_DESTROYED,
            tenant=study.tenant,
            actor=approved_by,
            actor_role=_actor_role(basis, approved_by),
            object_type="study",
            object_ids=[study_uid],
            details={
                "certificate": str(certificate.pk),
                "certificate_sha256": certificate_digest(certificate),
                "basis": basis,
                "objects": inventory["object_count"],
                "regions": certificate.regions,
            },
        )
        certificate.save(update_fields=["audit_event"])
        if erasure_request is not None:
            erasure_request.state, erasure_request.certificate = ErasureRequest.State.DONE, certificate
            erasure_request.study = None  # deleted above; the request keeps its UID
            erasure_request.save(
                update_fields=[
                    "state",
                    "certificate",
                    "study",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                    "self_approved",
                ]
            )
    return certificate


def certificate_digest(certificate: DestructionCertificate) -> str:
    """SHA-256 over the certificate's content, as recorded in its audit event."""
    content = {
        "id": str(certificate.pk),
        "tenant": certificate.tenant_id,
        "basis": certificate.basis,
        "study_ref": certificate.study_ref,
        "study_instance_uid": certificate.study_instance_uid,
        "patient_ref": certificate.patient_ref,
        "rule": certificate.rule_id,
        "requested_by": certificate.requested_by_id,
        "approved_by": certificate.approved_by_id,
        "series_count": certificate.series_count,
        "instance_count": certificate.instance_count,
        "object_count": certificate.object_count,
        "plaintext_bytes": certificate.plaintext_bytes,
        "ciphertext_bytes": certificate.ciphertext_bytes,
        "copies": certificate.copies,
        "key_shredded_at": certificate.key_shredded_at.isoformat(),
        "completed_at": certificate.completed_at.isoformat(),
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def _actor_role(basis: DestructionCertificate.Basis, approved_by: User | None) -> str:
    # An approver's role is in their membership; the unattended paths name who ran them.
    if approved_by is not None:
        return ""
    return "platform_operator" if basis == DestructionCertificate.Basis.RESTORE else "retention"


def _eraser_count(tenant: Tenant) -> int:
    members = User.objects.filter(memberships__tenant=tenant, is_active=True).distinct()
    return sum(1 for member in members if may_erase(member, tenant))


def _audit_request(action: AuditAction, request: ErasureRequest, actor: User) -> None:
    audit.record(
        action,
        tenant=request.tenant,
        actor=actor,
        object_type="study",
        object_ids=[request.study_instance_uid],
        details={"erasure_request": request.pk, "self_approved": request.self_approved},
    )
