"""Segmented AES-256-GCM blobs: stream any size in bounded memory, read any byte range.

Layout: a header, then the plaintext in SEGMENT_SIZE pieces, each sealed on its own (ciphertext
followed by its 16-byte tag); only the last segment may be shorter, and it may be empty.

    header = magic "PLSD" | format version (1 byte) | segment size (4 bytes) | nonce prefix (8 bytes)

Nonces follow the deterministic construction of NIST SP 800-38D section 8.2.1: an 8-byte random
prefix per object (the fixed field) and the 4-byte segment index (the invocation field). Within an
object nonces cannot repeat, so the only collision risk is two objects under one data key drawing
the same prefix: about n^2 / 2^65 for n objects, negligible for the instances of one study, where
12 random bytes per segment would exhaust the 2^32-invocation bound of SP 800-38D section 8.3 on
big studies much sooner.

Each segment's associated data binds the header, the tenant, the object ID, the segment index and
a final-segment flag: a segment moved to another object or tenant, segments reordered, a blob
truncated at a segment boundary or extended all fail authentication.
"""

import hashlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT_SIZE = 1024 * 1024
TAG_SIZE = 16
KEY_SIZE = 32
MAGIC = b"PLSD"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sBI8s")
HEADER_SIZE = _HEADER.size
_MAX_SEGMENTS = 2**32  # The invocation field is 4 bytes.
# Decryption trusts the header's segment size only within these bounds, so that a forged header
# cannot make a reader allocate gigabytes before the first tag check.
_SEGMENT_SIZE_RANGE = range(4096, 64 * 1024 * 1024 + 1)


class BlobIntegrityError(Exception):
    """The blob is not what was encrypted for this tenant and object (tampered, truncated, moved)."""

    def __init__(self, message: str, segment_index: int | None = None) -> None:
        super().__init__(message)
        self.segment_index = segment_index


@dataclass(frozen=True)
class BlobDigest:
    plaintext_sha256: str
    ciphertext_sha256: str
    plaintext_size: int
    ciphertext_size: int


def ciphertext_size_for(plaintext_size: int) -> int:
    """Stored size of a blob of `plaintext_size` bytes: the header plus one tag per segment."""
    # An empty object still has one (empty, final) segment, so that it cannot be forged by truncation.
    segments = max(1, -(-plaintext_size // SEGMENT_SIZE))
    return HEADER_SIZE + segments * TAG_SIZE + plaintext_size


def encrypt_stream(
    key: bytes, source: BinaryIO, sink: BinaryIO, *, tenant_id: int, object_id: str
) -> BlobDigest:
    """Encrypt `source` into `sink` segment by segment; memory use is a few segments at most."""
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, SEGMENT_SIZE, os.urandom(8))
    sealer = _Segments(key, header, tenant_id, object_id)
    plaintext_hash, ciphertext_hash = hashlib.sha256(), hashlib.sha256()
    plaintext_size = 0

    sink.write(header)
    ciphertext_hash.update(header)
    ciphertext_size = HEADER_SIZE
    # One segment of read-ahead tells whether the current segment is the last one.
    chunk = _read_exactly(source, SEGMENT_SIZE)
    index = 0
    while True:
        following = _read_exactly(source, SEGMENT_SIZE) if len(chunk) == SEGMENT_SIZE else b""
        final = not following
        if index >= _MAX_SEGMENTS:
            raise ValueError("Object too large for one blob.")
        sealed = sealer.seal(index, chunk, final=final)
        plaintext_hash.update(chunk)
        plaintext_size += len(chunk)
        sink.write(sealed)
        ciphertext_hash.update(sealed)
        ciphertext_size += len(sealed)
        if final:
            break
        chunk, index = following, index + 1
    return BlobDigest(
        plaintext_sha256=plaintext_hash.hexdigest(),
        ciphertext_sha256=ciphertext_hash.hexdigest(),
        plaintext_size=plaintext_size,
        ciphertext_size=ciphertext_size,
    )


def decrypt_stream(key: bytes, source: BinaryIO, *, tenant_id: int, object_id: str) -> Iterator[bytes]:
    """Yield the plaintext segment by segment, each authenticated before it is yielded.

    A consumer that stops early has only read authenticated bytes, but has not verified the end of
    the blob: truncation is detected when the last segment is reached.
    """
    header = _read_exactly(source, HEADER_SIZE)
    segment_size = _parse_header(header)
    opener = _Segments(key, header, tenant_id, object_id)
    stored_size = segment_size + TAG_SIZE
    chunk = _read_exactly(source, stored_size)
    if not chunk:
        raise BlobIntegrityError("Blob truncated: no segments after the header.", 0)
    index = 0
    while True:
        following = _read_exactly(source, stored_size) if len(chunk) == stored_size else b""
        yield opener.open(index, chunk, final=not following)
        if not following:
            return
        chunk, index = following, index + 1


def decrypt_range(
    key: bytes, source: BinaryIO, *, tenant_id: int, object_id: str, start: int, length: int
) -> bytes:
    """Plaintext bytes [start, start + length), clamped to the object's end, from a seekable blob."""
    if start < 0 or length < 0:
        raise ValueError("start and length must not be negative.")
    reader = PlaintextReader(key, source, tenant_id=tenant_id, object_id=object_id)
    reader.seek(start)
    return _read_exactly(reader, min(length, max(reader.size - start, 0)))


class PlaintextReader(io.RawIOBase):
    """A seekable, read-only file over a blob's plaintext, for readers such as pydicom that seek.

    Only the segments touched are decrypted, one at a time (the last one is kept), so memory stays at
    a segment or two whatever the object's size. The final segment is authenticated on opening, so
    that a truncated blob fails at once instead of answering with short reads.
    """

    def __init__(self, key: bytes, source: BinaryIO, *, tenant_id: int, object_id: str) -> None:
        super().__init__()
        source.seek(0)
        header = _read_exactly(source, HEADER_SIZE)
        self._segment_size = _parse_header(header)
        self._opener = _Segments(key, header, tenant_id, object_id)
        self._source = source
        self._stored_size = self._segment_size + TAG_SIZE
        body_size = source.seek(0, os.SEEK_END) - HEADER_SIZE
        self._count = -(-body_size // self._stored_size)
        self._last_stored = body_size - (self._count - 1) * self._stored_size
        if self._count == 0 or self._last_stored < TAG_SIZE:
            index = max(self._count - 1, 0)
            raise BlobIntegrityError(f"Blob truncated in segment {index}.", index)
        self.size = body_size - self._count * TAG_SIZE
        self._position = 0
        self._cached: tuple[int, bytes] = (-1, b"")
        self._segment(self._count - 1)

    def whole(self) -> bytes | None:
        """The whole plaintext when the blob is one segment, which opening decrypted and authenticated
        already; None for a longer one, whose segments are decrypted as they are read."""
        return self._segment(0) if self._count == 1 else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("Cannot seek before the start of the object.")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        # Fills the buffer across segment boundaries: readers such as pydicom take a short read(n) for
        # the end of the file.
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self.size:
            index = self._position // self._segment_size
            plaintext = self._segment(index)
            offset = self._position - index * self._segment_size
            count = min(len(view) - filled, len(plaintext) - offset)
            view[filled : filled + count] = plaintext[offset : offset + count]
            filled += count
            self._position += count
        return filled

    def _segment(self, index: int) -> bytes:
        if self._cached[0] != index:
            final = index == self._count - 1
            self._source.seek(HEADER_SIZE + index * self._stored_size)
            sealed = _read_exactly(self._source, self._last_stored if final else self._stored_size)
            self._cached = (index, self._opener.open(index, sealed, final=final))
        return self._cached[1]


class _Segments:
    """Seals and opens the segments of one object."""

    def __init__(self, key: bytes, header: bytes, tenant_id: int, object_id: str) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("Blob keys are 256-bit AES keys.")
        self._aead = AESGCM(key)
        self._nonce_prefix = header[-8:]
        encoded_id = object_id.encode()
        # Length-prefixed, so that no two (tenant, object ID) pairs encode to the same bytes.
        self._aad_prefix = header + struct.pack(">QI", tenant_id, len(encoded_id)) + encoded_id

    def _nonce_and_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        return (
            self._nonce_prefix + struct.pack(">I", index),
            self._aad_prefix + struct.pack(">I?", index, final),
        )

    def seal(self, index: int, plaintext: bytes, *, final: bool) -> bytes:
        nonce, aad = self._nonce_and_aad(index, final)
        return self._aead.encrypt(nonce, plaintext, aad)

    def open(self, index: int, sealed: bytes, *, final: bool) -> bytes:
        if index >= _MAX_SEGMENTS:
            raise BlobIntegrityError(f"Blob has more segments than its format allows ({index}).", index)
        if len(sealed) < TAG_SIZE:
            raise BlobIntegrityError(f"Blob truncated in segment {index}.", index)
        nonce, aad = self._nonce_and_aad(index, final)
        try:
            return self._aead.decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise BlobIntegrityError(
                f"Segment {index} failed authentication (tampered, truncated, reordered, or not this "
                "tenant's or object's blob).",
                index,
            ) from None


def _parse_header(header: bytes) -> int:
    if len(header) != HEADER_SIZE:
        raise BlobIntegrityError("Blob truncated in its header.")
    magic, version, segment_size, _prefix = _HEADER.unpack(header)
    if magic != MAGIC or version != FORMAT_VERSION or segment_size not in _SEGMENT_SIZE_RANGE:
        raise BlobIntegrityError("Not a blob of a known format (bad header).")
    return segment_size


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, fewer only at end of stream (a single read() may return less)."""
    data = source.read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining:
        part = source.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)
