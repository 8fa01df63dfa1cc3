"""Bounds on one STOW-RS request (THREATS.md 9), read from settings at each request."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class StowLimits:
    max_parts: int
    max_bytes: int
    # Under ASGI only (imaging.dicomweb.body_limits): the body arrives through the ASGI layer (whole
    # before the view runs, or read by a STOW-RS view as it arrives: portal/streamed_body.py), and
    # neither uvicorn nor Django bounds how long that takes.
    body_idle_seconds: float
    body_seconds: float

    @classmethod
    def from_settings(cls) -> "StowLimits":
        return cls(
            max_parts=settings.PALISADE_STOW_MAX_PARTS,
            max_bytes=settings.PALISADE_STOW_MAX_BYTES,
            body_idle_seconds=settings.PALISADE_STOW_BODY_IDLE_SECONDS,
            body_seconds=settings.PALISADE_STOW_BODY_SECONDS,
        )
