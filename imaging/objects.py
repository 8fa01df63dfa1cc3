"""Reading stored objects back: decrypt from the region's storage as a stream, in bounded memory.

The home copy is read first. When it is missing or fails authentication, the object is read from its
replicas (imaging.replication), so a lost or damaged home region still serves every study; reading
then asks the database where the copies are, inside the object's tenant scope.
"""

import io
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import BinaryIO

from imaging.crypto.keys import study_data_key
from imaging.crypto.object_keys import object_data_key
from imaging.crypto.segments import BlobIntegrityError, PlaintextReader, decrypt_stream
from imaging.models import StoredObject
from imaging.replication.services import readable_regions
from imaging.storage import open_object
from portal.tenancy import tenant_scope

logger = logging.getLogger(__name__)
# What a replica can make up for: the home copy gone, or its bytes not the ones encrypted.
_UNREADABLE = (FileNotFoundError, BlobIntegrityError)


class RequestKeys:
    """The data keys of the objects one request reads, each study's key unwrapped once for it.

    Lives as long as the request (or task step) that made it, and no longer: study keys are never
    cached across requests, so that shredding one takes effect at the next request (imaging.crypto.keys).
    Reading a study key reads the database: call `data_key` inside the tenant's scope. What it returns
    then decrypts the object anywhere, with no further database work.
    """

    def __init__(self) -> None:
        self._study_keys: dict[int, bytes] = {}

    def data_key(self, stored: StoredObject) -> bytes:
        """Raises KeyManagementError when the object's key cannot be opened (a shredded study included)."""
        if stored.wrapping_tenant_key_id is not None:
            return object_data_key(stored)
        study = stored.instance.series.study
        study_key = self._study_keys.get(study.pk)
        if study_key is None:
            study_key = self._study_keys[study.pk] = study_data_key(study, create=False)
        return object_data_key(stored, study_key=study_key)


def plaintext_chunks(stored: StoredObject, *, data_key: bytes | None = None) -> Iterator[bytes]:
    """The object's DICOM bytes, segment by segment. Raises BlobIntegrityError on any tampering, and
    KeyManagementError when the object's key cannot be opened (a shredded study included). With
    `data_key` (from RequestKeys) it reads no database unless the home copy is unreadable.

    A copy that fails part way is replaced by the next one from the same plaintext offset: what was
    already yielded was authenticated, and every copy holds the same ciphertext."""
    data_key = data_key or object_data_key(stored)
    sent = 0
    first_error: Exception | None = None
    for region in _regions_to_read(stored):
        try:
            with open_object(region, stored.storage_name) as ciphertext:
                source = _SizedReader.around(ciphertext)
                skip = sent
                for chunk in decrypt_stream(
                    data_key, source, tenant_id=stored.tenant_id, object_id=str(stored.pk)
                ):
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                    sent += len(chunk)
                    yield chunk
            return
        except _UNREADABLE as exc:
            first_error = first_error or exc
            _note_unreadable(stored, region, exc)
    raise first_error


@contextmanager
def open_plaintext(stored: StoredObject, *, data_key: bytes | None = None) -> Iterator[BinaryIO]:
    """A seekable file over the object's DICOM bytes, for readers that seek (pydicom): only the segments
    read are decrypted. Same errors and the same fallback to replicas as plaintext_chunks.

    An object of one segment (most images: a segment is imaging.crypto.segments.SEGMENT_SIZE) was
    decrypted and authenticated whole on opening: it is read from memory, where pydicom's many small
    reads and tells cost nothing, instead of through the segment reader."""
    data_key = data_key or object_data_key(stored)
    with ExitStack() as files:
        plaintext = _FailoverPlaintext(stored, data_key, files)
        whole = plaintext.whole()
        yield plaintext if whole is None else io.BytesIO(whole)


def _regions_to_read(stored: StoredObject) -> Iterator[str]:
    yield stored.region
    # Only now, with the home copy unreadable, is the database asked where the replicas are.
    with tenant_scope(stored.tenant):
        replicas = readable_regions(stored)[1:]
    yield from replicas


def _note_unreadable(stored: StoredObject, region: str, exc: Exception) -> None:
    # Ids and regions only; scrub --repair restores the copy.
    logger.warning("Object %s unreadable in region %s (%s)", stored.pk, region, type(exc).__name__)


class _FailoverPlaintext(io.RawIOBase):
    """PlaintextReader over the first readable copy; a read that fails authentication is done again
    on the next copy, from the same position."""

    def __init__(self, stored: StoredObject, data_key: bytes, files: ExitStack) -> None:
        super().__init__()
        self._stored, self._key, self._files = stored, data_key, files
        self._regions = _regions_to_read(stored)
        self._first_error: Exception | None = None
        self._region = stored.region
        self._reader = self._next_reader()
        self.size = self._reader.size

    def _next_reader(self) -> PlaintextReader:
        for region in self._regions:
            self._region = region
            try:
                ciphertext = self._files.enter_context(open_object(region, self._stored.storage_name))
                return PlaintextReader(
                    self._key, ciphertext, tenant_id=self._stored.tenant_id, object_id=str(self._stored.pk)
                )
            except _UNREADABLE as exc:
                self._first_error = self._first_error or exc
                _note_unreadable(self._stored, region, exc)
        raise self._first_error

    def whole(self) -> bytes | None:
        return self._reader.whole()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._reader.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._reader.seek(offset, whence)

    def readinto(self, buffer) -> int:
        while True:
            position = self._reader.tell()
            try:
                return self._reader.readinto(buffer)
            except BlobIntegrityError as exc:
                self._first_error = self._first_error or exc
                _note_unreadable(self._stored, self._region, exc)
                self._reader = self._next_reader()
                self._reader.seek(position)


class _SizedReader(io.RawIOBase):
    """A local file read front to back, whose reads ask for no more than what is left of it: a read of
    a whole segment then allocates the size of the (short) last segment rather than a full one, and
    the end of the file is known without another read. Every byte of the file is still read and
    authenticated: the size is the file's own (fstat), not the one recorded for the object."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        super().__init__()
        self._file = file
        self._remaining = size

    @classmethod
    def around(cls, file: BinaryIO) -> BinaryIO:
        opened = getattr(file, "file", file)  # a django.core.files.File wraps what open() returned
        if not isinstance(opened, io.BufferedReader | io.FileIO):
            return file  # not a local file (S3): read it as it is
        return cls(file, os.fstat(opened.fileno()).st_size - opened.tell())

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        data = self._file.read(self._remaining if size < 0 else min(size, self._remaining))
        self._remaining -= len(data)
        if not data:
            self._remaining = 0
        return data
