"""pynetdicom event handlers: thin adapters from DIMSE to the services STOW-RS uses too.

Each association runs in a thread of its own; every handler below runs in that thread, so a handler
enters the clinic's tenant scope itself (scopes live in context variables, per thread) and the
thread's database connection is closed when the association ends.
"""

import logging
import threading
from pathlib import Path
from weakref import WeakKeyDictionary

from django.db import DatabaseError, connections
from pydicom.dataset import Dataset
from pynetdicom.association import Association
from pynetdicom.events import EVT_REJECTED, Event, trigger

import audit
from accounts.policy import remote_ae_may_store
from audit.models import AuditAction, Outcome
from imaging.dimse import associations
from imaging.dimse.associations import AssociationRefused, AssociationRequest, Peer
from imaging.dimse.models import RemoteAE
from imaging.dimse.tls import verified_client_subject
from imaging.ingest.errors import FailureReason
from imaging.ingest.receive import Upload, receive_files
from imaging.models import IngestJob
from imaging.storage import StorageFull
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)

# C-STORE statuses (PS3.4 B.2.3; 0x0124 is the general "Refused: Not Authorized" of PS3.7 C.5.8).
SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124

_admitted: "WeakKeyDictionary[Association, Peer]" = WeakKeyDictionary()
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


def _reject(assoc: Association, result: int, diagnostic: int) -> None:
    # As pynetdicom's own ACSE does when it rejects (acse.py, _negotiate_as_acceptor).
    assoc.acse.send_reject(result, associations.SERVICE_USER, diagnostic)
    trigger(assoc, EVT_REJECTED, {})
    assoc.kill()
    connections.close_all()


def handle_association_end(event: Event) -> None:
    """EVT_RELEASED and EVT_ABORTED: forget the peer and close this thread's database connection."""
    with _admitted_lock:
        _admitted.pop(event.assoc, None)
    connections.close_all()


def handle_store(event: Event) -> Dataset:
    """EVT_C_STORE: receive the instance through the ingest pipeline; answer success only once it is
    durably stored (DESIGN.md "Ingestion"). pynetdicom has written the received data set, unchanged,
    with File Meta Information built from the C-STORE request (STORE_RECV_CHUNKED_DATASET), to a
    private scratch file that it deletes after this handler returns."""
    with _admitted_lock:
        peer = _admitted[event.assoc]
    try:
        with tenant_scope(peer.tenant):
            return store_received_file(peer, event.dataset_path, str(event.request.AffectedSOPInstanceUID))
    except DatabaseError as exc:
        # The next store reconnects rather than reuse a connection in an unknown state.
        connections.close_all()
        logger.error("C-STORE not stored: %s", type(exc).__name__)
        return _status(FailureReason.PROCESSING_FAILURE, "Processing failure; send again later.")


def store_received_file(peer: Peer, path: Path, sop_instance_uid: str) -> Dataset:
    """Receive one PS3.10 file from an admitted peer and say how it went as a C-STORE status. Call
    inside the peer's tenant scope."""
    remote_ae = RemoteAE.objects.filter(pk=peer.remote_ae_id).first()
    if remote_ae is None or not remote_ae_may_store(remote_ae):
        audit.record(
            AuditAction.ACCESS_DENIED,
            tenant=peer.tenant,
            actor_role="remote_ae",
            outcome=Outcome.FAILURE,
            object_type="instance",
            object_ids=[sop_instance_uid],
            details={"operation": "c_store", "calling_ae": peer.request.calling_ae_title},
            source_address=peer.request.address or None,
        )
        return _status(NOT_AUTHORIZED, "This AE may not store to this AE title.")
    upload = Upload(path, display_name=f"C-STORE from {peer.request.calling_ae_title}")
    try:
        (job,) = receive_files(peer.tenant, [upload], source=IngestJob.Source.DIMSE)
    except StorageFull:
        return _status(FailureReason.OUT_OF_RESOURCES, "Storage is full; send again later.")
    if job.state == IngestJob.State.REJECTED:
        return _status(job.failure_reason, job.error_reason)
    return _status(SUCCESS)


def _status(code: int, error_comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = int(code)
    if error_comment:
        # PS3.7 C.4.2.1.4 (0000,0902) Error Comment, LO: 64 characters. Ingest reasons never quote a
        # value of the object (imaging.ingest.errors), so no PHI travels back here either.
        status.ErrorComment = error_comment[:64]
    return status
