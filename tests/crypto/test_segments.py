import hashlib
import io
import os
import time
import tracemalloc

import pytest

from imaging.crypto import segments
from imaging.crypto.segments import (
    HEADER_SIZE,
    TAG_SIZE,
    BlobIntegrityError,
    ciphertext_size_for,
    decrypt_range,
    decrypt_stream,
    encrypt_stream,
)

KEY = bytes(range(32))
SMALL = 4096  # The smallest segment size a reader accepts: many segments from little data.


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_SIZE", SMALL)
    return SMALL


def encrypt(plaintext: bytes, *, key=KEY, tenant_id=1, object_id="obj-1") -> bytes:
    sink = io.BytesIO()
    encrypt_stream(key, io.BytesIO(plaintext), sink, tenant_id=tenant_id, object_id=object_id)
    return sink.getvalue()


def decrypt(blob: bytes, *, key=KEY, tenant_id=1, object_id="obj-1") -> bytes:
    return b"".join(decrypt_stream(key, io.BytesIO(blob), tenant_id=tenant_id, object_id=object_id))


def segment_bounds(index: int) -> slice:
    start = HEADER_SIZE + index * (SMALL + TAG_SIZE)
    return slice(start, start + SMALL + TAG_SIZE)


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 3 * SMALL + 17])
def test_round_trip_records_sizes_and_sha256_of_both_forms(small_segments, size):
    plaintext = os.urandom(size)
    sink = io.BytesIO()

    digest = encrypt_stream(KEY, io.BytesIO(plaintext), sink, tenant_id=7, object_id="obj")
    blob = sink.getvalue()

    assert decrypt(blob, tenant_id=7, object_id="obj") == plaintext
    assert digest.plaintext_size == size
    assert digest.ciphertext_size == len(blob) == ciphertext_size_for(size)
    assert digest.plaintext_sha256 == hashlib.sha256(plaintext).hexdigest()
    assert digest.ciphertext_sha256 == hashlib.sha256(blob).hexdigest()


def test_default_segment_size_round_trip_of_a_few_megabytes():
    plaintext = os.urandom(3 * segments.SEGMENT_SIZE + 5)

    blob = encrypt(plaintext)

    assert len(blob) == ciphertext_size_for(len(plaintext)) == HEADER_SIZE + 4 * TAG_SIZE + len(plaintext)
    assert decrypt(blob) == plaintext


def test_the_same_plaintext_encrypts_differently_each_time(small_segments):
    plaintext = b"x" * 3 * SMALL

    assert encrypt(plaintext) != encrypt(plaintext)


def test_a_segment_pasted_from_another_object_fails_to_decrypt(small_segments):
    a = bytearray(encrypt(os.urandom(3 * SMALL), object_id="obj-a"))
    b = encrypt(os.urandom(3 * SMALL), object_id="obj-b")
    a[segment_bounds(1)] = b[segment_bounds(1)]

    with pytest.raises(BlobIntegrityError, match="Segment 1 ") as caught:
        decrypt(bytes(a), object_id="obj-a")
    assert caught.value.segment_index == 1


def test_a_flipped_ciphertext_byte_fails_to_decrypt(small_segments):
    blob = bytearray(encrypt(os.urandom(3 * SMALL)))
    blob[segment_bounds(2).start + 100] ^= 0x01

    with pytest.raises(BlobIntegrityError, match="Segment 2 "):
        decrypt(bytes(blob))


def test_a_blob_truncated_at_a_segment_boundary_fails_to_decrypt(small_segments):
    blob = encrypt(os.urandom(3 * SMALL + 10))

    with pytest.raises(BlobIntegrityError, match="Segment 2 "):
        decrypt(blob[: segment_bounds(3).start])


@pytest.mark.parametrize("cut", [1, TAG_SIZE, SMALL])
def test_a_blob_truncated_inside_a_segment_fails_to_decrypt(small_segments, cut):
    blob = encrypt(os.urandom(3 * SMALL))

    with pytest.raises(BlobIntegrityError):
        decrypt(blob[:-cut])


@pytest.mark.parametrize("blob", [b"", b"PLSD", b"PLSD" + bytes(HEADER_SIZE - 4)])
def test_a_missing_or_damaged_header_is_refused(small_segments, blob):
    with pytest.raises(BlobIntegrityError, match="header"):
        decrypt(blob)


def test_a_header_without_segments_is_refused(small_segments):
    with pytest.raises(BlobIntegrityError, match="no segments"):
        decrypt(encrypt(b"data")[:HEADER_SIZE])


def test_reordered_segments_fail_to_decrypt(small_segments):
    blob = bytearray(encrypt(os.urandom(3 * SMALL)))
    first, second = bytes(blob[segment_bounds(0)]), bytes(blob[segment_bounds(1)])
    blob[segment_bounds(0)], blob[segment_bounds(1)] = second, first

    with pytest.raises(BlobIntegrityError, match="Segment 0 "):
        decrypt(bytes(blob))


@pytest.mark.parametrize("size", [10, 2 * SMALL])
def test_trailing_data_after_the_last_segment_fails_to_decrypt(small_segments, size):
    blob = encrypt(os.urandom(size))

    with pytest.raises(BlobIntegrityError):
        decrypt(blob + b"\x00" * 32)


def test_a_blob_decrypted_under_another_tenant_or_object_or_key_fails(small_segments):
    blob = encrypt(os.urandom(2 * SMALL), tenant_id=1, object_id="obj-1")

    with pytest.raises(BlobIntegrityError, match="Segment 0 "):
        decrypt(blob, tenant_id=2, object_id="obj-1")
    with pytest.raises(BlobIntegrityError, match="Segment 0 "):
        decrypt(blob, tenant_id=1, object_id="obj-2")
    with pytest.raises(BlobIntegrityError, match="Segment 0 ") as caught:
        decrypt(blob, key=os.urandom(32))
    assert KEY.hex() not in str(caught.value)


def test_keys_other_than_256_bit_are_refused():
    with pytest.raises(ValueError, match="256-bit"):
        encrypt(b"data", key=os.urandom(16))


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, 1),
        (0, SMALL),
        (SMALL - 1, 2),
        (SMALL - 5, SMALL + 10),
        (SMALL, SMALL),
        (100, 3 * SMALL - 200),
        (3 * SMALL, 10),
        (3 * SMALL + 99, 1),
        (3 * SMALL + 50, 500),
        (0, 10 * SMALL),
        (5, 0),
        (3 * SMALL + 100, 10),
    ],
)
def test_decrypt_range_returns_exactly_the_requested_bytes(small_segments, start, length):
    plaintext = os.urandom(3 * SMALL + 100)
    blob = encrypt(plaintext)

    got = decrypt_range(KEY, io.BytesIO(blob), tenant_id=1, object_id="obj-1", start=start, length=length)

    assert got == plaintext[start : start + length]


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_decrypt_range_reads_only_the_segments_it_needs_and_the_last(small_segments):
    plaintext = os.urandom(50 * SMALL)
    source = CountingReader(encrypt(plaintext))

    got = decrypt_range(KEY, source, tenant_id=1, object_id="obj-1", start=10 * SMALL - 3, length=6)

    assert got == plaintext[10 * SMALL - 3 : 10 * SMALL + 3]
    assert source.bytes_read == HEADER_SIZE + 3 * (SMALL + TAG_SIZE)


def test_decrypt_range_detects_truncation_outside_the_range(small_segments):
    blob = encrypt(os.urandom(5 * SMALL))

    with pytest.raises(BlobIntegrityError, match="Segment 3 "):
        decrypt_range(
            KEY,
            io.BytesIO(blob[: segment_bounds(4).start]),
            tenant_id=1,
            object_id="obj-1",
            start=0,
            length=10,
        )


def test_decrypt_range_refuses_negative_ranges(small_segments):
    with pytest.raises(ValueError, match="negative"):
        decrypt_range(KEY, io.BytesIO(encrypt(b"abc")), tenant_id=1, object_id="obj-1", start=-1, length=2)


class GeneratedSource:
    """`size` bytes of pseudo-random data, produced on demand and never held in memory at once."""

    def __init__(self, size: int) -> None:
        # 1 MiB plus a prime, so that segments of the output are not all alike.
        self._pattern = os.urandom(1024 * 1024 + 7919) * 2
        self._period = len(self._pattern) // 2
        self._position = 0
        self._remaining = size
        self.sha256 = hashlib.sha256()

    def read(self, size: int) -> bytes:
        size = min(size, self._remaining, self._period)
        offset = self._position % self._period
        data = self._pattern[offset : offset + size]
        self._position += size
        self._remaining -= size
        self.sha256.update(data)
        return data


@pytest.mark.slow
def test_a_300_mb_object_streams_through_encrypt_and_decrypt_in_bounded_memory(tmp_path):
    size = 300 * 1024 * 1024 + 12345
    source = GeneratedSource(size)
    blob_path = tmp_path / "blob"
    started = time.monotonic()

    tracemalloc.start()
    try:
        with blob_path.open("wb") as sink:
            digest = encrypt_stream(KEY, source, sink, tenant_id=1, object_id="big")
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        decrypted = hashlib.sha256()
        decrypted_size = 0
        with blob_path.open("rb") as blob:
            for piece in decrypt_stream(KEY, blob, tenant_id=1, object_id="big"):
                decrypted.update(piece)
                decrypted_size += len(piece)
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # About 4 MiB: a segment, its read-ahead and its ciphertext (or plaintext), 1 MiB each.
    assert encrypt_peak < 8 * 1024 * 1024, encrypt_peak
    assert decrypt_peak < 8 * 1024 * 1024, decrypt_peak
    assert digest.plaintext_size == decrypted_size == size
    assert digest.plaintext_sha256 == source.sha256.hexdigest() == decrypted.hexdigest()
    assert digest.ciphertext_size == blob_path.stat().st_size == ciphertext_size_for(size)
    assert time.monotonic() - started < 60
