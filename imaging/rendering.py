"""Rendering one frame of a stored instance to PNG or JPEG: series thumbnails, WADO-RS /rendered and
/thumbnail (PS3.18 8.3.5: viewport, window, quality).

Decoding is pydicom's, with the pylibjpeg plugins for JPEG, JPEG-LS, JPEG 2000 and RLE. The frame
is read from a seekable plaintext view of the encrypted blob, so only that frame's segments are
decrypted. Grey levels follow PS3.3 C.11: Modality LUT, then the VOI LUT or window the instance
carries (or the frame's full range when it carries none), and MONOCHROME1 is inverted.
"""

import io
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Window:
    """A VOI window chosen by the caller (PS3.18 8.3.5.1.4), applied instead of the instance's own."""

    center: float
    width: float
    function: str = "linear"  # linear, linear-exact or sigmoid (PS3.3 C.11.2.1.2)


@dataclass(frozen=True)
class Viewport:
    """The output size, and the source region to render (PS3.18 8.3.5.1.3); negative source sizes flip."""

    width: int
    height: int
    source: tuple[int, int, int, int] | None = None  # sx, sy, sw, sh


def render_png(plaintext: BinaryIO, *, frame: int | None = None, size: int = 128) -> bytes:
    """A PNG of at most size x size pixels of `frame` (the middle frame by default)."""
    return render_image(plaintext, frame=frame, viewport=Viewport(size, size), shrink_only=True)


def render_image(
    plaintext: BinaryIO,
    *,
    frame: int | None = None,
    viewport: Viewport | None = None,
    window: Window | None = None,
    image_format: str = "PNG",
    quality: int | None = None,
    shrink_only: bool = False,
) -> bytes:
    """`frame` (0-based; the middle frame by default) as a PNG or JPEG, scaled to fit the viewport
    with its aspect ratio kept (never enlarged when `shrink_only`)."""
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
    image = _fit(Image.fromarray(_to_display(pixels, header, window)), viewport, shrink_only)
    out = io.BytesIO()
    if image_format == "JPEG":
        image.save(out, format="JPEG", quality=quality or 90)
    else:
        image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fit(image: Image.Image, viewport: Viewport | None, shrink_only: bool) -> Image.Image:
    if viewport is None:
        return image
    if viewport.source is not None:
        sx, sy, sw, sh = viewport.source
        image = image.crop((min(sx, sx + sw), min(sy, sy + sh), max(sx, sx + sw), max(sy, sy + sh)))
        if sw < 0:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if sh < 0:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    scale = min(viewport.width / image.width, viewport.height / image.height)
    if shrink_only:
        scale = min(scale, 1.0)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


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


def _to_display(pixels: np.ndarray, header: Dataset, window: Window | None = None) -> np.ndarray:
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        pixels = apply_color_lut(pixels, header)
    if pixels.ndim == 3:
        # Colour (pydicom already converted YBR to RGB): stretch to 8 bits per sample.
        return _stretch(pixels.astype(np.float64), 0, float(2 ** int(header.get("BitsStored", 8)) - 1))
    values = apply_modality_lut(pixels, header)
    if window is not None:
        grey = _apply_window(values.astype(np.float64), window)
        return 255 - grey if photometric == "MONOCHROME1" else grey
    if "WindowCenter" in header or "VOILUTSequence" in header:
        values = apply_voi_lut(values, header)
    values = values.astype(np.float64)
    grey = _stretch(values, float(values.min()), float(values.max()))
    return 255 - grey if photometric == "MONOCHROME1" else grey


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return (np.clip((values - low) / (high - low), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """PS3.3 C.11.2.1.2 onto 0..255."""
    center, width = window.center, window.width
    if window.function == "sigmoid":
        scaled = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif window.function == "linear-exact":
        scaled = (values - center) / width + 0.5
    else:
        scaled = (values - (center - 0.5)) / max(width - 1.0, 1.0) + 0.5
    return (np.clip(scaled, 0.0, 1.0) * 255.0).round().astype(np.uint8)
