"""Rendering one frame of a stored instance to a small PNG (thumbnails; WADO-RS /rendered builds on it).

Decoding is pydicom's, with the pylibjpeg plugins for JPEG, JPEG-LS, JPEG 2000 and RLE. The frame
is read from a seekable plaintext view of the encrypted blob, so only that frame's segments are
decrypted. Grey levels follow PS3.3 C.11: Modality LUT, then the VOI LUT or window the instance
carries (or the frame's full range when it carries none), and MONOCHROME1 is inverted.
"""

import io
from typing import BinaryIO

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array
from pydicom.uid import DeflatedExplicitVRLittleEndian

from imaging.ingest.limits import IngestLimits


class RenderingError(Exception):
    """The frame cannot be rendered (no pixel data, an unsupported encoding, a corrupt frame)."""


def render_png(plaintext: BinaryIO, *, frame: int | None = None, size: int = 128) -> bytes:
    """A PNG of at most size x size pixels of `frame` (the middle frame by default)."""
    try:
        header = dcmread(plaintext, stop_before_pixels=True)
    except Exception as exc:  # any parser failure on stored bytes is a rendering failure, not a crash
        raise RenderingError(f"The stored object cannot be read ({type(exc).__name__}).") from None
    if "Rows" not in header or "Columns" not in header:
        raise RenderingError("The instance has no image.")
    frames = _count(header, "NumberOfFrames", default=1)
    index = frames // 2 if frame is None else frame
    if not 0 <= index < frames:
        raise RenderingError(f"Frame {index + 1} does not exist; the instance has {frames}.")
    expected = (_count(header, "Rows"), _count(header, "Columns"))
    _check_budget(header, expected)
    plaintext.seek(0)
    try:
        pixels = _decode(plaintext, header, index)
    except Exception as exc:  # decoders raise many types on corrupt or unsupported frames
        raise RenderingError(f"Frame {index + 1} cannot be decoded ({type(exc).__name__}).") from None
    if pixels.shape[:2] != expected:
        raise RenderingError("The decoded frame does not have the size its header declares.")
    image = Image.fromarray(_to_display(pixels, header))
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _decode(plaintext: BinaryIO, header: Dataset, index: int) -> np.ndarray:
    if header.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        # pydicom cannot read single frames of a deflated data set from a file; ingest capped its
        # inflated size (PALISADE_MAX_INFLATED_BYTES), so reading it whole is bounded.
        dataset = dcmread(plaintext)
        pixels = dataset.pixel_array
        return pixels[index] if _count(header, "NumberOfFrames", default=1) > 1 else pixels
    return pixel_array(plaintext, index=index)


def _count(header: Dataset, keyword: str, default: int | None = None) -> int:
    try:
        value = int(header.get(keyword) or default)
    except (TypeError, ValueError):
        raise RenderingError(f"The instance's {keyword} is not a number.") from None
    if value < 1:
        raise RenderingError(f"The instance's {keyword} is not positive.")
    return value


def _check_budget(header: Dataset, shape: tuple[int, int]) -> None:
    samples = _count(header, "SamplesPerPixel", default=1)
    bits = _count(header, "BitsAllocated", default=8)
    frame_bytes = shape[0] * shape[1] * samples * max(bits, 8) // 8
    if frame_bytes > IngestLimits.from_settings().max_pixel_bytes:
        raise RenderingError("The frame is larger than the pixel budget.")


def _to_display(pixels: np.ndarray, header: Dataset) -> np.ndarray:
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)
    if pixels.ndim == 3:
        # Colour (pydicom already converted YBR to RGB): stretch to 8 bits per sample.
        return _stretch(pixels.astype(np.float64), 0, float(2 ** int(header.get("BitsStored", 8)) - 1))
    values = apply_modality_lut(pixels, header)
    if "WindowCenter" in header or "VOILUTSequence" in header:
        values = apply_voi_lut(values, header)
    values = values.astype(np.float64)
    grey = _stretch(values, float(values.min()), float(values.max()))
    return 255 - grey if photometric == "MONOCHROME1" else grey


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return (np.clip((values - low) / (high - low), 0.0, 1.0) * 255.0).round().astype(np.uint8)
