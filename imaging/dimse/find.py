"""C-FIND (PS3.4 C.4.1): a DIMSE peer searches its clinic's index through the query layer of QIDO-RS.

The peer must be allowed to query (accounts.policy.remote_ae_may_query, read afresh for each request);
what it finds is what accounts.policy.remote_ae_visible_studies lets it see, inside the clinic's scope.
Each request is audited: QUERY with the studies (or, at patient level, the internal patient IDs) whose
data is returned and the tags matched on, never the values searched for.
"""

from dataclasses import dataclass

from pydicom.dataset import Dataset

from accounts import policy
from audit.models import AuditAction, Outcome
from imaging.dimse.associations import Peer
from imaging.dimse.identifiers import IdentifierError, InformationModel, find_request, response_identifier
from imaging.dimse.statuses import (
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    NOT_AUTHORIZED,
    PENDING,
    PENDING_WITH_UNSUPPORTED_KEYS,
    Refusal,
)
from imaging.query import Level, search


@dataclass(frozen=True)
class Matches:
    """The response identifiers of a C-FIND, each to be sent with `pending_status`."""

    pending_status: int
    identifiers: list[Dataset]


def find_matches(peer: Peer, identifier: Dataset, model: InformationModel) -> Matches | Refusal:
    """Answer a C-FIND identifier of `model`. Call inside the peer's clinic scope."""
    registration = peer.registration()
    if registration is None or not policy.remote_ae_may_query(registration):
        peer.audit(
            AuditAction.ACCESS_DENIED,
            outcome=Outcome.FAILURE,
            details={"operation": "c_find", "reason": "may_not_query"},
        )
        return Refusal(NOT_AUTHORIZED, "This AE may not query this AE title.")
    try:
        request = find_request(identifier, model)
    except IdentifierError as error:
        peer.audit(
            AuditAction.QUERY,
            outcome=Outcome.FAILURE,
            details={"service": "c-find", "model": model.name, "error": str(error)},
        )
        return Refusal(IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(error))
    page = search(policy.remote_ae_visible_studies(registration), request.criteria)
    level = request.criteria.level
    peer.audit(
        AuditAction.QUERY,
        object_type="patient" if level == Level.PATIENT else "study",
        object_ids=[str(pk) for pk in page.patients] if level == Level.PATIENT else page.study_uids,
        details={
            "service": "c-find",
            "model": model.name,
            "level": level.name.lower(),
            "results": len(page.rows),
            "keys": sorted(f"{tag:08X}" for tag in request.criteria.matches),
        },
    )
    status = PENDING_WITH_UNSUPPORTED_KEYS if request.unsupported else PENDING
    return Matches(status, [response_identifier(row, request, peer.tenant.ae_title) for row in page.rows])
