"""Frames of a stored instance (PS3.18 10.4.1.1.4, Retrieve Frames), read from a seekable plaintext view
so that only the segments holding the asked frames are decrypted.

Native frames are sent as little endian native pixels (PS3.18 8.7.3.3.2: application/octet-stream is
Explicit VR Little Endian): big endian objects are swapped, and 1-bit frames that do not start on a
byte boundary (PS3.5 8.1.1) are re-packed. Compressed frames are sent as the encapsulated bytes stored,
or decoded when the caller asks for native pixels.
"""

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pydicom import dcmread
from pydicom.encaps import get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from rest_framework.exceptions import NotFound, ParseError

from imaging.ingest.limits import IngestLimits

PIXEL_DATA = 0x7FE00010
_EXTENDED_OFFSET_TABLE = 0x7FE00001
_EXTENDED_OFFSET_LENGTHS = 0x7FE00002


class FramesUnavailable(Exception):
    """The instance has no pixel data, or its frames cannot be read or decoded."""


@dataclass(frozen=True)
class PixelLayout:
    transfer_syntax: UID
    frames: int
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    value_tell: int
    extended_offsets: tuple[bytes, bytes] | None
    inflated_pixels: bytes | None  # Deflated objects: their pixel data, already inflated in memory

    @property
    def frame_bits(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated


def parse_frame_numbers(text: str) -> list[int]:
    """`{frames}` of PS3.18 10.4.1.1.4: a comma-separated list of 1-based frame numbers; 400 otherwise."""
    numbers = [item.strip() for item in text.split(",")]
    if not numbers or not all(item.isdigit() and int(item) > 0 for item in numbers):
        raise ParseError("Frame numbers are positive integers separated by commas.")
    return [int(item) for item in numbers]


def pixel_layout(reader: BinaryIO) -> PixelLayout:
    try:
        header = dcmread(reader, defer_size=1024)
        transfer_syntax = header.file_meta.TransferSyntaxUID
        inflated = None
        if transfer_syntax == DeflatedExplicitVRLittleEndian:
            # No file offsets exist in a deflated stream; ingest capped its inflated size.
            reader.seek(0)
            header = dcmread(reader)
            inflated = header.get("PixelData")
        raw = header.get_item(PIXEL_DATA, keep_deferred=True)
        if raw is None or "Rows" not in header:
            raise FramesUnavailable("The instance has no pixel data.")
        layout = PixelLayout(
            transfer_syntax=transfer_syntax,
            frames=int(header.get("NumberOfFrames") or 1),
            rows=int(header.Rows),
            columns=int(header.Columns),
            samples=int(header.get("SamplesPerPixel") or 1),
            bits_allocated=int(header.get("BitsAllocated") or 8),
            value_tell=raw.value_tell,
            extended_offsets=_extended_offsets(header),
            inflated_pixels=inflated,
        )
    except FramesUnavailable:
        raise
    except Exception as exc:  # any parser failure on stored bytes is "cannot read frames", not a crash
        raise FramesUnavailable(f"The stored object cannot be read ({type(exc).__name__}).") from None
    if layout.frame_bits // 8 > IngestLimits.from_settings().max_pixel_bytes:
        raise FramesUnavailable("A frame is larger than the pixel budget.")
    return layout


def check_frame_numbers(layout: PixelLayout, numbers: list[int]) -> None:
    missing = [n for n in numbers if n > layout.frames]
    if missing:
        raise NotFound(f"Frame {missing[0]} does not exist; the instance has {layout.frames}.")


def stored_frame(reader: BinaryIO, layout: PixelLayout, number: int) -> bytes:
    """Frame `number` (1-based) as stored: its encapsulated bytes, or its native pixels."""
    index = number - 1
    try:
        if layout.transfer_syntax.is_encapsulated:
            reader.seek(layout.value_tell)
            return get_frame(
                reader, index, number_of_frames=layout.frames, extended_offsets=layout.extended_offsets
            )
        return _native_frame(reader, layout, index)
    except Exception as exc:  # a corrupt offset table or a truncated fragment
        raise FramesUnavailable(f"Frame {number} cannot be read ({type(exc).__name__}).") from None


def decoded_frame(reader: BinaryIO, layout: PixelLayout, number: int) -> bytes:
    """Frame `number` decoded to native little endian pixels (colour as RGB, PS3.3 C.7.6.3.1.2)."""
    reader.seek(0)
    try:
        pixels = pixel_array(reader, index=number - 1)
    except Exception as exc:  # decoders raise many types on corrupt or unsupported frames
        raise FramesUnavailable(f"Frame {number} cannot be decoded ({type(exc).__name__}).") from None
    if layout.bits_allocated == 1:
        return np.packbits(pixels.ravel(), bitorder="little").tobytes()
    return pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()


def _native_frame(reader: BinaryIO, layout: PixelLayout, index: int) -> bytes:
    start_bit = index * layout.frame_bits
    first, last = start_bit // 8, -(-(start_bit + layout.frame_bits) // 8)
    if layout.inflated_pixels is not None:
        data = layout.inflated_pixels[first:last]
    else:
        reader.seek(layout.value_tell + first)
        data = reader.read(last - first)
    if len(data) != last - first:
        raise ValueError("pixel data shorter than its frames")
    if start_bit % 8 or layout.frame_bits % 8:
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        offset = start_bit % 8
        return np.packbits(bits[offset : offset + layout.frame_bits], bitorder="little").tobytes()
    if not layout.transfer_syntax.is_little_endian and layout.bits_allocated > 8:
        return (
            np.frombuffer(data, f">u{layout.bits_allocated // 8}")
            .astype(f"<u{layout.bits_allocated // 8}")
            .tobytes()
        )
    return data


def _extended_offsets(header) -> tuple[bytes, bytes] | None:
    if _EXTENDED_OFFSET_TABLE in header and _EXTENDED_OFFSET_LENGTHS in header:
        return header[_EXTENDED_OFFSET_TABLE].value, header[_EXTENDED_OFFSET_LENGTHS].value
    return None
