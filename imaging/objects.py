"""Reading stored objects back: decrypt from the region's storage as a stream, in bounded memory."""

from collections.abc import Iterator
from contextlib import contextmanager

from imaging.crypto.object_keys import object_data_key
from imaging.crypto.segments import PlaintextReader, decrypt_stream
from imaging.models import StoredObject
from imaging.storage import open_object


def plaintext_chunks(stored: StoredObject) -> Iterator[bytes]:
    """The object's DICOM bytes, segment by segment. Raises BlobIntegrityError on any tampering, and
    KeyManagementError when the object's key cannot be opened (a shredded study included)."""
    data_key = object_data_key(stored)
    with open_object(stored.region, stored.storage_name) as ciphertext:
        yield from decrypt_stream(data_key, ciphertext, tenant_id=stored.tenant_id, object_id=str(stored.pk))


@contextmanager
def open_plaintext(stored: StoredObject) -> Iterator[PlaintextReader]:
    """A seekable file over the object's DICOM bytes, for readers that seek (pydicom): only the segments
    read are decrypted. Same errors as plaintext_chunks."""
    data_key = object_data_key(stored)
    with open_object(stored.region, stored.storage_name) as ciphertext:
        yield PlaintextReader(data_key, ciphertext, tenant_id=stored.tenant_id, object_id=str(stored.pk))
