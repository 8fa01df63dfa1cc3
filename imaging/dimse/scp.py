"""The DICOM listener (PS3.7 DIMSE over PS3.8 associations): one pynetdicom AE for every clinic.

The called AE title of each association picks the clinic (imaging.dimse.associations); the handlers
(imaging.dimse.handlers) store through the same ingest pipeline as STOW-RS and search the same index
as QIDO-RS. Verification (C-ECHO, PS3.4 Annex A) is answered by pynetdicom's default handler once an
association is admitted.
"""

import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connections
from pydicom.uid import UID, AllTransferSyntaxes
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

import audit
from audit.models import AuditAction, Outcome
from imaging.dimse import handlers
from imaging.dimse.identifiers import MODELS
from imaging.dimse.sending import send_stored_instances

# Associations served at once; one more is rejected as transient "local-limit-exceeded" (PS3.8 9.3.4).
MAX_ASSOCIATIONS = 32
# Largest P-DATA PDU we accept (PS3.8 D.1): larger PDUs mean fewer round trips through the protocol
# machine per instance; 1 MiB of buffer per association is a fair price.
MAX_PDU_BYTES = 1024 * 1024
# A TLS handshake not finished by then is dropped, so that a silent client holds no thread for long.
TLS_HANDSHAKE_SECONDS = 10.0
# On shutdown, associations in progress get this long to finish before they are aborted.
SHUTDOWN_GRACE_SECONDS = 10.0

# Every transfer syntax the ingest boundary can read (pydicom's list) that carries its pixel data in the
# data set; JPIP Referenced syntaxes point elsewhere for it (PS3.5 A.6) and are not offered.
TRANSFER_SYNTAXES = [
    uid for uid in ALL_TRANSFER_SYNTAXES if uid in AllTransferSyntaxes and "JPIP" not in UID(uid).name
]


class ListenerAE(AE):
    """The listener's AE. pynetdicom's C-MOVE SCP opens the association to the destination with
    `associate`, passing on what the C-MOVE handler yielded: that association is made to send the
    stored objects byte for byte (imaging.dimse.sending)."""

    def associate(self, *args, move_originator: str = "", **kwargs) -> Association:
        assoc = super().associate(*args, **kwargs)
        send_stored_instances(assoc, move_originator)
        return assoc


def build_ae() -> AE:
    ae = ListenerAE(ae_title="PALISADE")
    ae.maximum_associations = MAX_ASSOCIATIONS
    ae.maximum_pdu_size = MAX_PDU_BYTES
    ae.add_supported_context(Verification)
    # Every Storage SOP Class of PS3.4 Annex B, in every transfer syntax above: the parse boundary, not
    # the negotiation, decides what is refused, and says why in the C-STORE status. A C-GET peer
    # proposes to take the Storage SCP role (PS3.4 C.4.3, PS3.7 D.3.3.4): accepted, as is the usual one.
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
    # Query/Retrieve, Patient Root and Study Root (PS3.4 C.6.1, C.6.2): C-FIND, C-GET, C-MOVE.
    for sop_class in MODELS:
        ae.add_supported_context(sop_class)
    return ae


EVENT_HANDLERS = [
    (evt.EVT_REQUESTED, handlers.handle_association_request),
    (evt.EVT_RELEASED, handlers.handle_association_end),
    (evt.EVT_ABORTED, handlers.handle_association_end),
    (evt.EVT_C_STORE, handlers.handle_store),
    (evt.EVT_C_FIND, handlers.handle_find),
    (evt.EVT_C_GET, handlers.handle_get),
    (evt.EVT_C_MOVE, handlers.handle_move),
]


class DicomServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, with the TLS handshake moved from the accepting thread into the
    connection's own thread and bounded in time: pynetdicom shakes hands while accepting, where one
    silent client would stop the listener for every clinic."""

    def get_request(self):
        client, address = self.socket.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def process_request_thread(self, request, client_address) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(TLS_HANDSHAKE_SECONDS)
                request.do_handshake()
                request.settimeout(None)
            except OSError as exc:  # ssl.SSLError and timeouts included
                _audit_failed_handshake(client_address[0], exc)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)


def _audit_failed_handshake(address: str, exc: OSError) -> None:
    try:
        audit.record(
            AuditAction.ACCESS_DENIED,
            outcome=Outcome.FAILURE,
            actor_role="remote_ae",
            details={"reason": "tls_handshake_failed", "error": type(exc).__name__},
            source_address=address,
        )
    finally:
        connections.close_all()


class Listener:
    """A running DICOM listener; `stop()` ends it."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        _without_connection_pool()
        self._scratch = _scratch_folder()
        self.ae = build_ae()
        self.server = self.ae.make_server(
            (host, port), evt_handlers=EVENT_HANDLERS, ssl_context=ssl_context, server_class=DicomServer
        )
        self.ae._servers.append(self.server)  # pynetdicom's shutdown() expects its servers listed there
        self._thread = threading.Thread(target=self.server.serve_forever, name="dicom-listener", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting, let the associations in progress finish for up to `grace` seconds, then
        abort the rest."""
        self.server.shutdown()
        deadline = time.monotonic() + grace
        while self.server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        self.ae.shutdown()
        shutil.rmtree(self._scratch, ignore_errors=True)


def _without_connection_pool() -> None:
    # Each association keeps its thread's database connection until it ends (handlers.py closes it
    # then), so the web server's psycopg pool (portal/settings.py) would save one connect per
    # association at most, and its max_size would hold associations beyond it waiting for a
    # connection, below MAX_ASSOCIATIONS. The listener opens its connections itself, as before.
    for database in settings.DATABASES.values():
        database.get("OPTIONS", {}).pop("pool", None)


def _scratch_folder() -> Path:
    # Received data sets are written to a temporary file as they arrive (bounded memory whatever their
    # size) and that file is what the ingest pipeline reads; an instance retrieved is decrypted into a
    # temporary file that pynetdicom sends in fragments (imaging.dimse.sending). Both use tempfile's
    # default folder; in this process that is a private folder of var/scratch (0700), as for uploads,
    # never the shared /tmp: it holds plaintext PHI for the time of one instance.
    scratch = Path(settings.VAR_DIR) / "scratch"
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    tempfile.tempdir = tempfile.mkdtemp(prefix="dimse-", dir=scratch)
    _config.STORE_RECV_CHUNKED_DATASET = True
    _config.STORE_SEND_CHUNKED_DATASET = True
    # pynetdicom would log each C-FIND, C-GET and C-MOVE identifier (names, birth dates) at INFO.
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    return Path(tempfile.tempdir)
