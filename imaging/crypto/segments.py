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
    """Plaintext bytes [start, start + length), clamped to the object's end, from a seekable blob.

    Reads only the segments covering the range, plus the last segment when the range does not
    reach it, so that a truncated blob fails instead of answering with a short range.
    """
    if start < 0 or length < 0:
        raise ValueError("start and length must not be negative.")
    source.seek(0)
    header = _read_exactly(source, HEADER_SIZE)
    segment_size = _parse_header(header)
    opener = _Segments(key, header, tenant_id, object_id)
    stored_size = segment_size + TAG_SIZE
    body_size = source.seek(0, os.SEEK_END) - HEADER_SIZE
    count = -(-body_size // stored_size)
    last_stored = body_size - (count - 1) * stored_size
    if count == 0 or last_stored < TAG_SIZE:
        raise BlobIntegrityError(f"Blob truncated in segment {max(count - 1, 0)}.", max(count - 1, 0))
    plaintext_size = body_size - count * TAG_SIZE

    def segment(index: int) -> bytes:
        source.seek(HEADER_SIZE + index * stored_size)
        final = index == count - 1
        return opener.open(index, _read_exactly(source, last_stored if final else stored_size), final=final)

    end = min(start + length, plaintext_size)
    if start >= end:
        segment(count - 1)
        return b""
    first, last = start // segment_size, (end - 1) // segment_size
    if last != count - 1:
        segment(count - 1)
    pieces = [segment(index) for index in range(first, last + 1)]
    # Trim the end first: when first == last both cuts apply to the same piece.
    pieces[-1] = pieces[-1][: end - last * segment_size]
    pieces[0] = pieces[0][start - first * segment_size :]
    return b"".join(pieces)


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
