"""Burned-in annotation (PS3.15 E.3.1, Clean Pixel Data Option): decide whether an object's pixels may
leave as they are, must be masked, or must not leave at all; and the masking itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

Rectangle = tuple[int, int, int, int]


@dataclass(frozen=True)
class MaskRule:
    """Where one device model burns text into its images: rectangles (x, y, width, height) in pixels,
    for images of the given size only when rows/columns are set."""

    manufacturer: str
    model: str
    rectangles: tuple[Rectangle, ...]
    rows: int | None = None
    columns: int | None = None

    def matches(self, ds: pydicom.Dataset) -> bool:
        return (
            _device(ds) == (_norm(self.manufacturer), _norm(self.model))
            and self.rows in (None, ds.get("Rows"))
            and self.columns in (None, ds.get("Columns"))
        )


@dataclass(frozen=True)
class PixelDecision:
    action: Literal["keep", "refuse", "mask"]
    rectangles: tuple[Rectangle, ...] = ()
    # Names the device and the flag, never the patient: it goes into reports and exception messages.
    reason: str = ""


@dataclass(frozen=True)
class PixelPolicy:
    burned_in: Literal["refuse", "clean"] = "refuse"
    masks: tuple[MaskRule, ...] = ()
    # (manufacturer, model) known to burn in text without saying so in Burned In Annotation.
    flagged_devices: tuple[tuple[str, str], ...] = ()

    def decide(self, ds: pydicom.Dataset) -> PixelDecision:
        if "PixelData" not in ds:
            return PixelDecision("keep", reason="no pixel data")
        flagged = str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES"
        listed = _device(ds) in {(_norm(m), _norm(n)) for m, n in self.flagged_devices}
        if not (flagged or listed):
            return PixelDecision("keep", reason="no burned-in annotation flagged")
        why = "Burned In Annotation is YES" if flagged else f"device {_device_text(ds)} is flagged"
        if self.burned_in == "refuse":
            return PixelDecision("refuse", reason=f"burned-in annotation ({why}) and the policy refuses it")
        rule = next((rule for rule in self.masks if rule.matches(ds)), None)
        if rule is None:
            return PixelDecision(
                "refuse",
                reason=f"burned-in annotation ({why}) and no mask rule for device {_device_text(ds)}"
                f" at {ds.get('Columns')}x{ds.get('Rows')}",
            )
        return PixelDecision("mask", rule.rectangles, reason=f"burned-in annotation ({why}) masked")


class MaskingError(ValueError):
    """The pixels cannot be decoded or written back, so they cannot be cleaned."""


def mask_pixels(ds: pydicom.Dataset, rectangles: tuple[Rectangle, ...]) -> None:
    """Zero the rectangles in every frame and store the pixels uncompressed, Explicit VR Little Endian.

    Decoding converts YCbCr to RGB, so the photometric interpretation written back is the decoded one;
    set_pixel_data fixes Planar Configuration, Number of Frames and the transfer syntax to match.
    """
    if ds.get("BitsAllocated") not in (8, 16):
        raise MaskingError(f"pixels with Bits Allocated {ds.get('BitsAllocated')} cannot be masked")
    try:
        arr = ds.pixel_array.copy()
    except Exception as exc:  # any decoder failure means the pixels cannot be cleaned
        raise MaskingError(f"the pixel data cannot be decoded ({type(exc).__name__})") from None
    frames = int(ds.get("NumberOfFrames") or 1)
    view = arr if frames > 1 else arr[np.newaxis, ...]
    for x, y, width, height in rectangles:
        view[:, max(y, 0) : y + height, max(x, 0) : x + width, ...] = 0
    photometric = _decoded_photometric(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)
    ds.BurnedInAnnotation = "NO"


def _decoded_photometric(ds: pydicom.Dataset) -> str:
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric.startswith("YBR") and ds.SamplesPerPixel == 3:
        return "RGB"
    return photometric


def _norm(text: object) -> str:
    return str(text or "").strip().upper()


def _device(ds: pydicom.Dataset) -> tuple[str, str]:
    return _norm(ds.get("Manufacturer")), _norm(ds.get("ManufacturerModelName"))


def _device_text(ds: pydicom.Dataset) -> str:
    manufacturer, model = _device(ds)
    return f"{manufacturer or '?'} / {model or '?'}"
