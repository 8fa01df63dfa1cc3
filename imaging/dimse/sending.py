"""The C-STORE sub-operations of C-GET and C-MOVE: each stored object sent byte for byte as stored.

pynetdicom's Query/Retrieve SCP sends each data set that a retrieve handler yields with the
association's send_c_store, which encodes a pydicom Dataset anew: a deflated data set would be deflated
again, retired group lengths dropped, and the whole object held in memory. So the handlers yield a
StoredInstance, a data set that only names the instance, and the association that carries the
sub-operations is prepared with `send_stored_instances`: its send_c_store decrypts the stored object
(imaging.objects) into a private scratch file, has pynetdicom send the data set from that file in
fragments (STORE_SEND_CHUNKED_DATASET, set by the listener), and deletes the file.

An instance goes in its stored transfer syntax when the peer accepted that for its SOP Class; else
decoded to Explicit VR Little Endian when the peer accepted that, as WADO-RS does
(imaging.dicomweb.wado_transcode, within the same memory budget); else the sub-operation fails, and the
peer finds the instance in the Failed SOP Instance UID List. DIMSE carries only data sets of even
length: a deflated one of odd length gets the NUL byte of PS3.5 A.5, any other is rewritten in Explicit
VR Little Endian with its odd values padded (PS3.5 7.1.1), as dcmtk's storescu does.
"""

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.association import Association
from pynetdicom.dsutils import split_dataset
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification

from imaging.dicomweb.wado_transcode import decodable, to_explicit_little_endian
from imaging.models import StoredObject
from imaging.objects import open_plaintext, plaintext_chunks
from portal.models import Tenant
from portal.tenancy import tenant_scope

# PS3.8 9.3.2.2: presentation context IDs are the odd numbers 1 to 255.
MAX_PRESENTATION_CONTEXTS = 128


@dataclass(frozen=True)
class StoredSource:
    tenant: Tenant
    stored_object_id: uuid.UUID
    transfer_syntax: str


class StoredInstance(Dataset):
    """One sub-operation as pynetdicom's Q/R SCP handles it: SOP Class and Instance UIDs (for its
    Failed SOP Instance UID List), and the stored object that is sent in its place."""

    def __init__(self, sop_class_uid: str, sop_instance_uid: str, source: StoredSource) -> None:
        super().__init__()
        self.SOPClassUID = sop_class_uid
        self.SOPInstanceUID = sop_instance_uid
        self.source = source


class CannotSend(Exception):
    """No accepted presentation context fits the instance. The message names UIDs only."""


def send_stored_instances(assoc: Association, move_originator: str = "") -> None:
    """Make `assoc` send each StoredInstance handed to its send_c_store as the stored object.

    `move_originator` is the AE title of the peer whose C-MOVE this association serves (PS3.7
    9.3.1.1: Move Originator Application Entity Title); pynetdicom would name the listener instead."""
    send = assoc.send_c_store

    def send_c_store(
        dataset: Dataset | Path,
        msg_id: int = 1,
        priority: int = 2,
        originator_aet: str | None = None,
        originator_id: int | None = None,
    ) -> Dataset:
        if not isinstance(dataset, StoredInstance):
            return send(dataset, msg_id, priority, originator_aet, originator_id)
        with _sendable_file(assoc, dataset) as path:
            return send(path, msg_id, priority, move_originator or originator_aet, originator_id)

    # An attribute of this association only: pynetdicom's Q/R SCP calls assoc.send_c_store for each
    # sub-operation, and offers no other way to send a data set it has not encoded itself.
    assoc.send_c_store = send_c_store


def presentation_contexts(instances: list[StoredInstance]) -> list[PresentationContext]:
    """What a C-MOVE sub-association proposes: one context per SOP Class and stored transfer syntax,
    then one per SOP Class in Explicit VR Little Endian for the fallback, each with a single transfer
    syntax so that the destination accepts or refuses exactly that pair."""
    pairs = dict.fromkeys((str(item.SOPClassUID), item.source.transfer_syntax) for item in instances)
    fallbacks = dict.fromkeys(
        (sop_class, ExplicitVRLittleEndian)
        for sop_class, syntax in pairs
        if syntax != ExplicitVRLittleEndian and decodable(syntax)
    )
    contexts = [build_context(sop_class, syntax) for sop_class, syntax in {**pairs, **fallbacks}]
    # An association needs one context even when nothing is to be sent.
    return contexts[:MAX_PRESENTATION_CONTEXTS] or [build_context(Verification)]


@contextmanager
def _sendable_file(assoc: Association, instance: StoredInstance) -> Iterator[Path]:
    source = instance.source
    accepted = {
        context.transfer_syntax[0]
        for context in assoc.accepted_contexts
        if context.abstract_syntax == instance.SOPClassUID and context.as_scu
    }
    # Plaintext PHI on disk for the time of one sub-operation, in the listener's private scratch
    # folder (tempfile's folder in that process, see imaging.dimse.scp), as for received instances.
    with tempfile.NamedTemporaryFile(prefix="retrieve-", suffix=".dcm") as scratch:
        with tenant_scope(source.tenant):
            stored = StoredObject.objects.get(pk=source.stored_object_id)
            _write_sendable(Path(scratch.name), scratch, stored, accepted)
        scratch.flush()
        yield Path(scratch.name)


def _write_sendable(path: Path, scratch: BinaryIO, stored: StoredObject, accepted: set[str]) -> None:
    syntax = stored.transfer_syntax_uid
    if syntax in accepted:
        for chunk in plaintext_chunks(stored):
            scratch.write(chunk)
        scratch.flush()
        _, data_set_start = split_dataset(path)
        if (scratch.tell() - data_set_start) % 2 == 0:
            return
        if syntax == DeflatedExplicitVRLittleEndian:
            # PS3.5 A.5: a deflated data set of odd length is padded with one NUL byte.
            scratch.write(b"\0")
            return
        # A value of odd length (PS3.5 7.1.1 wants even ones): DIMSE carries data sets in fragments of
        # even length (PS3.8 Annex E), so it goes rewritten, each value padded, as below.
        scratch.seek(0)
        scratch.truncate()
    if ExplicitVRLittleEndian in accepted and decodable(syntax):
        with open_plaintext(stored) as plaintext:
            scratch.write(to_explicit_little_endian(plaintext, stored.plaintext_size))
        return
    raise CannotSend(
        f"No accepted presentation context for stored object {stored.pk}: its syntax {syntax} "
        "(with values of even length) or Explicit VR Little Endian."
    )
