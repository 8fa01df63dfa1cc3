"""C-GET and C-MOVE (PS3.4 C.4.3, C.4.2): which stored objects a DIMSE peer's request retrieves, and
where C-MOVE may send them.

The peer must be allowed to retrieve (accounts.policy.remote_ae_may_retrieve, read afresh for each
request) and retrieves among what accounts.policy.remote_ae_visible_studies lets it see: a UID of
another clinic matches nothing, as a UID that does not exist. A C-MOVE destination is looked up by AE
title among the clinic's own registrations (accounts.policy.may_be_move_destination), and its
registered address and port are the only ones ever used. Each retrieval is audited as RETRIEVE with
the SOP Instance UIDs before the first sub-operation, so that a peer hanging up midway leaves its trace.
"""

from django.db.models import QuerySet
from pydicom.dataset import Dataset

from accounts import policy
from audit.models import AuditAction, Outcome
from imaging.dimse.associations import Peer
from imaging.dimse.identifiers import IdentifierError, InformationModel, RetrieveRequest, retrieve_request
from imaging.dimse.models import RemoteAE
from imaging.dimse.sending import StoredInstance, StoredSource
from imaging.dimse.statuses import IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, NOT_AUTHORIZED, Refusal
from imaging.models import StoredObject, Study
from imaging.query import ATTRIBUTES, Level


def move_destination(peer: Peer, ae_title: str) -> RemoteAE | None:
    """The clinic's registered C-MOVE destination called `ae_title`, or None (audited as refused). Call
    inside the peer's clinic scope."""
    # PS3.5 Table 6.2-1: leading and trailing spaces of an AE title are not significant.
    title = ae_title.strip()
    destination = RemoteAE.objects.filter(ae_title=title).first()
    if destination is not None and policy.may_be_move_destination(destination):
        return destination
    peer.audit(
        AuditAction.ACCESS_DENIED,
        outcome=Outcome.FAILURE,
        object_type="remote_ae" if destination is not None else "",
        object_ids=[str(destination.pk)] if destination is not None else [],
        details={"operation": "c_move", "reason": "unknown_move_destination", "destination_ae": title},
    )
    return None


def plan_retrieval(
    peer: Peer,
    identifier: Dataset,
    model: InformationModel,
    *,
    service: str,
    destination: RemoteAE | None = None,
) -> list[StoredInstance] | Refusal:
    """The instances a C-GET or C-MOVE (`service`) identifier retrieves, in series and instance order,
    or why it is refused. Call inside the peer's clinic scope."""
    registration = peer.registration()
    if registration is None or not policy.remote_ae_may_retrieve(registration):
        peer.audit(
            AuditAction.ACCESS_DENIED,
            outcome=Outcome.FAILURE,
            details={"operation": service.replace("-", "_"), "reason": "may_not_retrieve"},
        )
        return Refusal(NOT_AUTHORIZED, "This AE may not retrieve from this AE title.")
    details = {"service": service, "model": model.name}
    if destination is not None:
        details["destination_ae"] = destination.ae_title
    try:
        request = retrieve_request(identifier, model)
    except IdentifierError as error:
        peer.audit(AuditAction.RETRIEVE, outcome=Outcome.FAILURE, details={**details, "error": str(error)})
        return Refusal(IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(error))
    instances, study_uids = _current_versions(policy.remote_ae_visible_studies(registration), request, peer)
    peer.audit(
        AuditAction.RETRIEVE,
        object_type=request.level.name.lower(),
        object_ids=[str(instance.SOPInstanceUID) for instance in instances],
        details={**details, "level": request.level.name.lower(), "studies": study_uids},
    )
    return instances


def _current_versions(
    studies: QuerySet[Study], request: RetrieveRequest, peer: Peer
) -> tuple[list[StoredInstance], list[str]]:
    """The current version of each instance the request names (StoredObject.version: a SOP Instance
    received again with other bytes is a new version), and the studies they belong to."""
    filters = {
        f"instance__{ATTRIBUTES[tag].path_from(Level.INSTANCE)}__in": values
        for tag, values in request.keys.items()
    }
    rows = (
        StoredObject.objects.filter(instance__series__study__in=studies, **filters)
        .order_by(
            "instance__series__study_id",
            "instance__series__series_number",
            "instance__series_id",
            "instance__instance_number",
            "instance_id",
            "-version",
        )
        .values_list(
            "pk",
            "instance_id",
            "instance__sop_class_uid",
            "instance__sop_instance_uid",
            "transfer_syntax_uid",
            "instance__series__study__study_instance_uid",
        )
    )
    instances: list[StoredInstance] = []
    seen: set[int] = set()
    study_uids: dict[str, None] = {}
    for pk, instance_id, sop_class, sop_instance, syntax, study_uid in rows:
        if instance_id in seen:  # an older version
            continue
        seen.add(instance_id)
        study_uids[study_uid] = None
        instances.append(StoredInstance(sop_class, sop_instance, StoredSource(peer.tenant, pk, syntax)))
    return instances, list(study_uids)
