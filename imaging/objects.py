"""Reading stored objects back: decrypt from the region's storage as a stream, in bounded memory."""

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from imaging.crypto.keys import study_data_key
from imaging.crypto.object_keys import object_data_key
from imaging.crypto.segments import PlaintextReader, decrypt_stream
from imaging.models import StoredObject
from imaging.storage import open_object


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
    `data_key` (from RequestKeys) it reads no database."""
    data_key = data_key or object_data_key(stored)
    with open_object(stored.region, stored.storage_name) as ciphertext:
        source = _SizedReader.around(ciphertext)
        yield from decrypt_stream(data_key, source, tenant_id=stored.tenant_id, object_id=str(stored.pk))


@contextmanager
def open_plaintext(stored: StoredObject, *, data_key: bytes | None = None) -> Iterator[PlaintextReader]:
    """A seekable file over the object's DICOM bytes, for readers that seek (pydicom): only the segments
    read are decrypted. Same errors as plaintext_chunks."""
    data_key = data_key or object_data_key(stored)
    with open_object(stored.region, stored.storage_name) as ciphertext:
        yield PlaintextReader(data_key, ciphertext, tenant_id=stored.tenant_id, object_id=str(stored.pk))


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
