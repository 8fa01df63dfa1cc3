"""Which transfer syntax each instance of a retrieval is sent in, and transcoding to the default one.

PS3.18 8.7.3.4: the Default Transfer Syntax of DICOM objects in a payload is Explicit VR Little Endian,
and an origin server must be able to convert to it, except that pixel data it holds only in lossy form
may go in that lossy form. So an instance goes as stored when its syntax is accepted (or `*` is);
else decoded to Explicit VR Little Endian when that is accepted and a decoder exists; else, on a
request that named no syntax, a lossy instance goes as stored; else it is left out.

Transcoding reads the whole data set into memory (pydicom decodes and writes whole data sets): it is
refused above PALISADE_WADO_TRANSCODE_MAX_BYTES (default 512 MiB) of plaintext or decoded pixels. The
stored form itself always streams in bounded memory.
"""

import io
import logging
from typing import BinaryIO

from django.conf import settings
from pydicom import dcmread
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imaging.dicomweb.wado_accept import DicomSyntaxes

log = logging.getLogger(__name__)

_NATIVE = {
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
}
# Syntaxes whose pixel data may be lossy (PS3.5 Table A-1 and 8.2): JPEG lossy processes, JPEG-LS near
# lossless, JPEG 2000 and HTJ2K that allow irreversible coding, and the video syntaxes.
_MAYBE_LOSSY = {
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.203",
    *(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)),
}


class TranscodingFailed(Exception):
    """The instance cannot be converted (no decoder, a corrupt frame, over the memory budget)."""


def decodable(transfer_syntax: str) -> bool:
    """Whether pixel data in `transfer_syntax` can be turned into native pixels here."""
    if transfer_syntax in _NATIVE:
        return True
    try:
        return get_decoder(UID(transfer_syntax)).is_available
    except NotImplementedError:
        return False


def syntax_to_send(stored_syntax: str, accepted: DicomSyntaxes) -> str | None:
    """The transfer syntax to send an instance stored in `stored_syntax` in, or None to leave it out."""
    if accepted.accepts(stored_syntax):
        return stored_syntax
    if accepted.wants_explicit_little_endian and decodable(stored_syntax):
        return ExplicitVRLittleEndian
    if accepted.default and stored_syntax in _MAYBE_LOSSY:
        return stored_syntax
    return None


def transcode_budget() -> int:
    return settings.PALISADE_WADO_TRANSCODE_MAX_BYTES


def to_explicit_little_endian(plaintext: BinaryIO, size: int) -> bytes:
    """The stored object as a PS3.10 file in Explicit VR Little Endian (pixel data decoded if need be)."""
    budget = transcode_budget()
    try:
        header = dcmread(plaintext, stop_before_pixels=True)
        pixel_bytes = (
            int(header.get("Rows") or 0)
            * int(header.get("Columns") or 0)
            * int(header.get("SamplesPerPixel") or 1)
            * int(header.get("NumberOfFrames") or 1)
            * max(int(header.get("BitsAllocated") or 8), 8)
            // 8
        )
    except Exception as exc:  # any parser failure on stored bytes
        raise TranscodingFailed(f"The stored object cannot be read ({type(exc).__name__}).") from None
    if max(size, pixel_bytes) > budget:
        raise TranscodingFailed(f"Transcoding needs more than the {budget} bytes allowed in memory.")
    plaintext.seek(0)
    try:
        dataset = dcmread(plaintext)
        stored = dataset.file_meta.TransferSyntaxUID
        if stored.is_compressed and "PixelData" in dataset:
            # Colour comes out as RGB and Photometric Interpretation is updated to match.
            dataset.decompress(generate_instance_uid=False)
        elif not stored.is_little_endian and "PixelData" in dataset:
            pixels = dataset.pixel_array
            dataset.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        # Elements read from an implicit VR data set stay raw, without a VR, until converted; walking
        # the data set converts each one, taking its VR from the data dictionary (UN when unknown).
        list(dataset.iterall())
        dataset.set_original_encoding(False, True, dataset.original_character_set)
        out = io.BytesIO()
        dataset.save_as(out, enforce_file_format=True)
    except Exception as exc:  # decoders and the writer raise many types on corrupt or odd objects
        raise TranscodingFailed(f"The object cannot be transcoded ({type(exc).__name__}).") from None
    return out.getvalue()
