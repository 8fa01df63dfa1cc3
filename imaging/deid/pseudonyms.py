"""Keyed pseudonyms: one secret per research project (or ad-hoc download) turns every original UID,
patient ID and date into the same replacement each time, so that series, studies and the references
between objects survive de-identification, while nobody without the key can link them back or across
projects."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

MIN_SECRET_BYTES = 32
# A shift of up to ten years back, never zero: a zero shift would leave the real dates.
MAX_OFFSET_DAYS = 3650


@dataclass(frozen=True)
class ProjectKeys:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"a project key needs at least {MIN_SECRET_BYTES} random bytes")

    @classmethod
    def generate(cls) -> ProjectKeys:
        return cls(secrets.token_bytes(MIN_SECRET_BYTES))

    def _digest(self, purpose: str, value: str) -> bytes:
        # The purpose keeps the spaces apart: a patient ID that happens to equal a UID gets unrelated output.
        return hmac.new(self.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A UID under the 2.25 root (PS3.5 B.2): 128 bits of the keyed hash in decimal, <= 44 chars."""
        return "2.25." + str(int.from_bytes(self._digest("uid", original.strip("\x00 "))[:16], "big"))

    def patient_id(self, original_patient_id: str) -> str:
        return "ANON" + self._digest("patient-id", original_patient_id.strip())[:8].hex().upper()

    def patient_name(self, original_patient_id: str) -> str:
        return "ANONYMOUS^" + self.patient_id(original_patient_id)

    def date_offset_days(self, original_patient_id: str) -> int:
        """Days to add to every date of the patient: in -3650..-1, the same for all of their objects."""
        draw = int.from_bytes(self._digest("date-offset", original_patient_id.strip())[:8], "big")
        return -(draw % MAX_OFFSET_DAYS + 1)
