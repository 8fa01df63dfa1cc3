"""pynetdicom event handlers: thin adapters from DIMSE to the services STOW-RS and QIDO-RS use too.

Each association runs in a thread of its own; every handler below runs in that thread, so a handler
enters the clinic's tenant scope itself (scopes live in context variables, per thread) and the
thread's database connection is closed when the association ends. The C-FIND, C-GET and C-MOVE
handlers are generators (pynetdicom's protocol): they decide everything inside the scope first and
hold no scope across a `yield`.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from django.db import DatabaseError, connections
from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.events import EVT_REJECTED, Event, trigger

from accounts.policy import remote_ae_may_store
from audit.models import AuditAction, Outcome
from imaging.dimse import associations, find, retrieve
from imaging.dimse.associations import AssociationRefused, AssociationRequest, Peer
from imaging.dimse.identifiers import MODELS
from imaging.dimse.sending import StoredInstance, presentation_contexts, send_stored_instances
from imaging.dimse.statuses import (
    CANCEL,
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
    NOT_AUTHORIZED,
    PENDING,
    PROCESSING_FAILURE,
    SUCCESS,
    Refusal,
    status_dataset,
)
from imaging.dimse.tls import verified_client_subject
from imaging.ingest.batching import IndexBatcher
from imaging.ingest.errors import FailureReason
from imaging.ingest.receive import Upload, enqueue_indexing, receive_files
from imaging.models import IngestJob
from imaging.storage import StorageFull
from portal.agreements.services import AgreementMissing, assert_may_ingest
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)
T = TypeVar("T")
# What a C-FIND, C-GET or C-MOVE handler yields to pynetdicom: counts, destinations, (status, data set).
Responses = Iterator[Any]

_admitted: "WeakKeyDictionary[Association, Peer]" = WeakKeyDictionary()
# The instances an association stores are queued for indexing in batches (imaging.ingest.batching).
_batchers: "WeakKeyDictionary[Association, IndexBatcher]" = WeakKeyDictionary()
_admitted_lock = threading.Lock()


def handle_association_request(event: Event) -> None:
    """EVT_REQUESTED: admit the association or send A-ASSOCIATE-RJ before pynetdicom negotiates.

    pynetdicom logs and swallows an exception raised here and then accepts, so every failure is
    turned into a refusal: the listener fails closed."""
    assoc = event.assoc
    try:
        request = _request_of(assoc)
        peer = associations.admit(request)
    except AssociationRefused as refused:
        _reject(assoc, associations.REJECTED_PERMANENT, refused.refusal.diagnostic)
        return
    except Exception as exc:
        logger.error(
            "Association request from %s not decided: %s", assoc.requestor.address, type(exc).__name__
        )
        _reject(assoc, associations.REJECTED_TRANSIENT, associations.NO_REASON_GIVEN)
        return
    with _admitted_lock:
        _admitted[assoc] = peer
    # PS3.8 9.3.3.2: the A-ASSOCIATE-AC carries the called AE title of the request.
    assoc.acceptor.ae_title = request.called_ae_title
    _prefer_proposed_transfer_syntaxes(assoc)
    # C-GET sends its sub-operations over this association.
    send_stored_instances(assoc)


def _request_of(assoc: Association) -> AssociationRequest:
    primitive = assoc.requestor.primitive
    transport = assoc.dul.socket
    return AssociationRequest(
        # PS3.5 Table 6.2-1: leading and trailing spaces of an AE title are not significant.
        called_ae_title=primitive.called_ae_title.strip(),
        calling_ae_title=primitive.calling_ae_title.strip(),
        address=assoc.requestor.address,
        tls_subject=verified_client_subject(transport.socket if transport is not None else None),
    )


def _prefer_proposed_transfer_syntaxes(assoc: Association) -> None:
    """Of the transfer syntaxes a presentation context proposes, pynetdicom accepts the first in the
    listener's own list; the peer's order of preference is followed instead (PS3.8 9.3.2.2 leaves the
    choice to the acceptor). It matters most where the listener sends: a C-GET peer receives in the
    syntax it asked for first, and an object stored in that syntax goes byte for byte as stored."""
    proposed: dict[str, list[str]] = {}
    for context in assoc.requestor.primitive.presentation_context_definition_list:
        syntaxes = proposed.setdefault(context.abstract_syntax, [])
        syntaxes += [syntax for syntax in context.transfer_syntax if syntax not in syntaxes]
    # This association's own copy of the listener's contexts, negotiated after this handler returns.
    for context in assoc.acceptor.supported_contexts:
        preferred = proposed.get(context.abstract_syntax)
        if preferred:
            ours = context.transfer_syntax
            context.transfer_syntax = [s for s in preferred if s in ours] + [
                s for s in ours if s not in preferred
            ]


def _reject(assoc: Association, result: int, diagnostic: int) -> None:
    # As pynetdicom's own ACSE does when it rejects (acse.py, _negotiate_as_acceptor).
    assoc.acse.send_reject(result, associations.SERVICE_USER, diagnostic)
    trigger(assoc, EVT_REJECTED, {})
    assoc.kill()
    connections.close_all()


def handle_association_end(event: Event) -> None:
    """EVT_RELEASED and EVT_ABORTED: queue what the association stored and has not queued yet, forget
    the peer and close this thread's database connection."""
    with _admitted_lock:
        _admitted.pop(event.assoc, None)
        batcher = _batchers.pop(event.assoc, None)
    if batcher is not None:
        batcher.flush()
    connections.close_all()


def peer_of(assoc: Association) -> Peer:
    with _admitted_lock:
        return _admitted[assoc]


def _batcher_of(assoc: Association) -> IndexBatcher:
    with _admitted_lock:
        if assoc not in _batchers:
            _batchers[assoc] = IndexBatcher(enqueue_indexing)
        return _batchers[assoc]


def handle_store(event: Event) -> Dataset:
    """EVT_C_STORE: receive the instance through the ingest pipeline; answer success only once it is
    durably stored (DESIGN.md "Ingestion"). pynetdicom has written the received data set, unchanged,
    with File Meta Information built from the C-STORE request (STORE_RECV_CHUNKED_DATASET), to a
    private scratch file that it deletes after this handler returns."""
    peer = peer_of(event.assoc)
    try:
        with tenant_scope(peer.tenant):
            return store_received_file(
                peer,
                event.dataset_path,
                str(event.request.AffectedSOPInstanceUID),
                enqueue=_batcher_of(event.assoc).add,
            )
    except DatabaseError as exc:
        # The next store reconnects rather than reuse a connection in an unknown state.
        connections.close_all()
        logger.error("C-STORE not stored: %s", type(exc).__name__)
        return status_dataset(FailureReason.PROCESSING_FAILURE, "Processing failure; send again later.")


def store_received_file(
    peer: Peer,
    path: Path,
    sop_instance_uid: str,
    *,
    enqueue: Callable[[list[IngestJob]], None] | None = None,
) -> Dataset:
    """Receive one PS3.10 file from an admitted peer and say how it went as a C-STORE status. Call
    inside the peer's tenant scope. `enqueue` takes the stored job for indexing (receive_files)."""
    remote_ae = peer.registration()
    if remote_ae is None or not remote_ae_may_store(remote_ae):
        peer.audit(
            AuditAction.ACCESS_DENIED,
            outcome=Outcome.FAILURE,
            object_type="instance",
            object_ids=[sop_instance_uid],
            details={"operation": "c_store"},
        )
        return status_dataset(NOT_AUTHORIZED, "This AE may not store to this AE title.")
    # pynetdicom has written the data set to its scratch file already and deletes it after this
    # handler returns; nothing reaches the durable spool while an agreement is missing. PS3.7 C.5.8:
    # the peer is known but not authorized to store here, for now.
    try:
        assert_may_ingest(
            peer.tenant,
            channel="dimse",
            actor_role="remote_ae",
            origin={"calling_ae": peer.request.calling_ae_title},
            source_address=peer.request.address or None,
        )
    except AgreementMissing as missing:
        return status_dataset(NOT_AUTHORIZED, missing.short_message)
    upload = Upload(path, display_name=f"C-STORE from {peer.request.calling_ae_title}")
    try:
        (job,) = receive_files(
            peer.tenant,
            [upload],
            source=IngestJob.Source.DIMSE,
            origin={"calling_ae": peer.request.calling_ae_title},
            enqueue=enqueue,
        )
    except StorageFull:
        return status_dataset(FailureReason.OUT_OF_RESOURCES, "Storage is full; send again later.")
    if job.state == IngestJob.State.REJECTED:
        # Ingest reasons never quote a value of the object (imaging.ingest.errors).
        return status_dataset(job.failure_reason, job.error_reason)
    return status_dataset(SUCCESS)


def handle_find(event: Event) -> Responses:
    """EVT_C_FIND: (status, identifier) pairs, a Pending one per match (PS3.4 C.4.1.1.4); pynetdicom
    sends the final Success once they are all sent."""
    peer = peer_of(event.assoc)
    model = MODELS[event.request.AffectedSOPClassUID]
    answer = _decide(peer, event, find.find_matches, model)
    if isinstance(answer, Refusal):
        yield answer.as_dataset(), None
        return
    for identifier in answer.identifiers:
        # PS3.4 C.4.1.2.3 (C-CANCEL): matching ends with a Cancel status.
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield answer.pending_status, identifier


def handle_get(event: Event) -> Responses:
    """EVT_C_GET: the number of sub-operations, then a StoredInstance per sub-operation, sent back over
    this association (the peer took the Storage SCP role for its SOP Classes: PS3.4 C.4.3)."""
    peer = peer_of(event.assoc)
    model = MODELS[event.request.AffectedSOPClassUID]
    plan = _decide(peer, event, retrieve.plan_retrieval, model, service="c-get")
    yield from _sub_operations(event, plan)


def handle_move(event: Event) -> Responses:
    """EVT_C_MOVE: the registered destination's address, the number of sub-operations, then a
    StoredInstance per sub-operation, sent over a new association to the destination."""
    peer = peer_of(event.assoc)
    model = MODELS[event.request.AffectedSOPClassUID]
    destination = _in_clinic(peer, retrieve.move_destination, peer, event.request.MoveDestination)
    if isinstance(destination, Refusal):
        # Before a destination is known pynetdicom can only answer an exception, with 0xC514 "Unable
        # to process" (PS3.4 C.4.2.1.5); the message names no value.
        raise RuntimeError(destination.comment)
    if destination is None:
        yield None, None  # pynetdicom answers 0xA801 "Move Destination unknown" (PS3.4 C.4.2.1.5)
        return
    plan = _decide(peer, event, retrieve.plan_retrieval, model, service="c-move", destination=destination)
    contexts = presentation_contexts([] if isinstance(plan, Refusal) else plan)
    # The keyword arguments go to ListenerAE.associate (imaging.dimse.scp).
    options = {"contexts": contexts, "move_originator": peer.request.calling_ae_title}
    yield destination.host, destination.port, options
    yield from _sub_operations(event, plan)


def _sub_operations(event: Event, plan: list[StoredInstance] | Refusal) -> Responses:
    if isinstance(plan, Refusal):
        # pynetdicom reads a number of sub-operations before any status, and answers a number of 0
        # as success: one lets the failure through (counted as the one failed sub-operation).
        yield 1
        yield plan.as_dataset(), None
        return
    yield len(plan)
    for instance in plan:
        # PS3.4 C.4.2.3.2 and C.4.3.3.2 (C-CANCEL): no further sub-operations; the response says how
        # many remain.
        if event.is_cancelled:
            yield CANCEL, None
            return
        yield PENDING, instance


def _decide(peer: Peer, event: Event, decide: Callable[..., T], *args: Any, **kwargs: Any) -> T | Refusal:
    """Decode the request identifier in full, then run `decide(peer, identifier, *args, **kwargs)`
    inside the peer's clinic scope."""
    try:
        identifier = event.identifier
        # Every element decoded now, so that a malformed one is refused here rather than raising in
        # the service, where pydicom's message could quote the value.
        for _ in identifier.iterall():
            pass
    except Exception as exc:  # pydicom raises many types on a malformed data set
        logger.warning("DIMSE identifier not decoded: %s", type(exc).__name__)
        return Refusal(IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, "The identifier cannot be decoded.")
    return _in_clinic(peer, decide, peer, identifier, *args, **kwargs)


def _in_clinic(peer: Peer, work: Callable[..., T], *args: Any, **kwargs: Any) -> T | Refusal:
    try:
        with tenant_scope(peer.tenant):
            return work(*args, **kwargs)
    except DatabaseError as exc:
        # The next request reconnects rather than reuse a connection in an unknown state.
        connections.close_all()
        logger.error("DIMSE request not answered: %s", type(exc).__name__)
        return Refusal(PROCESSING_FAILURE, "Processing failure; try again later.")
