"""Which de-identification a caller asks for: the Basic Application Level Confidentiality Profile of
PS3.15 Annex E plus a set of its options (E.3), named in kebab case as DESIGN.md says."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

EDITION = "2024b"
BASIC_PROFILE_CODE = "113100"
BASIC_PROFILE_LABEL = "Basic Application Confidentiality Profile"


class Option(StrEnum):
    """The options of PS3.15 E.3, with the name and code value CID 7050 gives each of them."""

    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_LONG_FULL_DATES = "retain-long-full-dates"
    RETAIN_LONG_MODIFIED_DATES = "retain-long-modified-dates"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_GRAPHICS = "clean-graphics"
    CLEAN_PIXEL_DATA = "clean-pixel-data"

    @property
    def label(self) -> str:
        return _CID_7050[self][1]

    @property
    def code(self) -> str:
        return _CID_7050[self][0]


# PS3.16 CID 7050 "De-identification Method", scheme DCM. 113102 (Clean Recognizable Visual Features)
# is not offered: nothing here can judge whether a face is recognisable.
_CID_7050: dict[Option, tuple[str, str]] = {
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONG_FULL_DATES: ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    Option.RETAIN_LONG_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}

# Pairs whose columns of Table E.1-1 contradict each other on the same attributes: the dates are either
# kept as they are (K) or shifted (C), not both.
_EXCLUSIVE: tuple[frozenset[Option], ...] = (
    frozenset({Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES}),
)


@dataclass(frozen=True)
class SafePrivate:
    """A private attribute known to carry no identity (E.3.10), found through its creator: `element` is
    the low byte (0x00-0xFF) within whichever block (gggg,0010-00FF) the creator reserved."""

    creator: str
    group: int
    element: int

    def __post_init__(self) -> None:
        if not (self.group % 2 == 1 and 0x0009 <= self.group <= 0xFFFF):
            raise ValueError(f"safe private group {self.group:#06x} is not an odd private group")
        if not 0 <= self.element <= 0xFF:
            raise ValueError(f"safe private element offset {self.element:#x} is not within 0x00-0xFF")
        if not self.creator.strip():
            raise ValueError("a safe private attribute needs its private creator")


@dataclass(frozen=True)
class Profile:
    options: frozenset[Option] = frozenset()
    safe_private: tuple[SafePrivate, ...] = ()

    def __post_init__(self) -> None:
        for pair in _EXCLUSIVE:
            if pair <= self.options:
                a, b = sorted(pair)
                raise ValueError(
                    f"the options {a} and {b} cannot be combined: their actions on dates conflict"
                )

    @classmethod
    def from_names(cls, names: Iterable[str], safe_private: Iterable[SafePrivate] = ()) -> Profile:
        options = set()
        for name in names:
            try:
                options.add(Option(name))
            except ValueError:
                known = ", ".join(o.value for o in Option)
                raise ValueError(
                    f"unknown de-identification option {name!r}; known options: {known}"
                ) from None
        return cls(options=frozenset(options), safe_private=tuple(safe_private))

    def names(self) -> list[str]:
        return sorted(o.value for o in self.options)

    def method_description(self) -> str:
        """The text of De-identification Method (0012,0063): profile, options and edition."""
        parts = [BASIC_PROFILE_LABEL] + [o.label for o in sorted(self.options, key=lambda o: o.code)]
        return f"DICOM PS3.15 {EDITION} Annex E: " + "; ".join(parts)
