"""Query criteria, independent of the transport: QIDO-RS query parameters (imaging.dicomweb.qido_params)
and C-FIND identifiers are both turned into a QueryCriteria, with the value syntax of PS3.4 C.2.2.2.

`matcher_for` reads one key's value as DICOM writes it in both transports: `*`/`?` wildcards, `-` ranges
of dates and times, `\\`-separated lists of UIDs. Errors name the attribute but never quote the value,
which may be a patient's name or birth date.
"""

import datetime
import re
from dataclasses import dataclass

from imaging.query.attributes import MODALITIES_IN_STUDY, Attribute, Level


@dataclass(frozen=True)
class SingleValue:
    """PS3.4 C.2.2.2.1: the value as is (case-insensitive for PN, see imaging.query.matching)."""

    value: str | int


@dataclass(frozen=True)
class Wildcard:
    """PS3.4 C.2.2.2.4: `*` any run of characters, `?` any one character."""

    pattern: str


@dataclass(frozen=True)
class Range:
    """PS3.4 C.2.2.2.5: inclusive bounds; None is open-ended."""

    low: datetime.date | datetime.time | None
    high: datetime.date | datetime.time | None


@dataclass(frozen=True)
class AnyOf:
    """PS3.4 C.2.2.2.2 list of UID matching; also a list of modalities for Modalities in Study."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class FuzzyName:
    """PS3.4 C.2.2.2.1.1 fuzzy semantic matching of person names. Ours: every word must begin one of
    the name's components (family, given, middle, prefix, suffix, in any group), case-insensitively."""

    words: tuple[str, ...]


Matcher = SingleValue | Wildcard | Range | AnyOf | FuzzyName


class CriteriaError(ValueError):
    """A key or value that cannot be matched. The message is safe to show and to log."""


@dataclass(frozen=True)
class QueryCriteria:
    """What to match and what to return at one level. Matchers of any level at or above `level` apply;
    `return_tags` are the attributes each result carries (the level UIDs are always added)."""

    level: Level
    matches: dict[int, Matcher]
    return_tags: frozenset[int]


# PS3.5 9.1: UIDs are digits and dots, at most 64 characters.
_UID_RE = re.compile(r"[0-9.]{1,64}")
_DATE_RE = re.compile(r"\d{8}")
_TIME_RE = re.compile(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?")
_NAME_WORD_SEPARATORS = re.compile(r"[\s^=,]+")


def matcher_for(attribute: Attribute, value: str, *, fuzzy: bool = False) -> Matcher | None:
    """The matcher for `value` of `attribute`, or None for universal matching (an empty value, or `*`
    alone: PS3.4 C.2.2.2.3 and C.2.2.2.4), where the attribute is only returned."""
    if value in ("", "*"):
        return None
    name = f"{attribute.keyword} ({attribute.tag:08X})"
    if not attribute.matchable:
        raise CriteriaError(f"{name} is a return key only; it cannot be matched. Send it without a value.")
    if attribute.vr == "UI" or attribute.tag == MODALITIES_IN_STUDY:
        return _value_list(attribute, value, name)
    if attribute.vr == "DA":
        return _date_range(value, name)
    if attribute.vr == "TM":
        return _time_range(value, name)
    if attribute.vr in ("IS", "US"):
        try:
            return SingleValue(int(value))
        except ValueError:
            raise CriteriaError(f"{name} takes an integer.") from None
    if "*" in value or "?" in value:
        return Wildcard(value)
    if fuzzy and attribute.vr == "PN":
        words = tuple(word for word in _NAME_WORD_SEPARATORS.split(value) if word)
        return FuzzyName(words) if words else None
    return SingleValue(value)


def _value_list(attribute: Attribute, value: str, name: str) -> AnyOf:
    values = tuple(item.strip() for item in value.split("\\") if item.strip())
    if attribute.vr == "UI" and not all(_UID_RE.fullmatch(uid) for uid in values):
        raise CriteriaError(f"{name} takes UIDs (digits and dots), separated by a backslash or a comma.")
    if not values:
        raise CriteriaError(f"{name} has an empty list of values.")
    return AnyOf(values)


def _date_range(value: str, name: str) -> Range:
    low, separator, high = value.partition("-")
    try:
        start = _date(low) if low else None
        end = _date(high) if high else None
    except ValueError:
        raise CriteriaError(
            f"{name} takes a date or a date range: YYYYMMDD, YYYYMMDD-, -YYYYMMDD or YYYYMMDD-YYYYMMDD."
        ) from None
    if not separator:
        return Range(start, start)
    if start is None and end is None:
        raise CriteriaError(f"{name}: a range needs at least one bound.")
    return Range(start, end)


def _date(text: str) -> datetime.date:
    if not _DATE_RE.fullmatch(text):
        raise ValueError(text)
    return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _time_range(value: str, name: str) -> Range:
    low, separator, high = value.partition("-")
    try:
        start = _time(low, upper=False) if low else None
        end = _time(high, upper=True) if high else None
        if not separator:
            # A partial time names a span: 10 is 10:00:00 to 10:59:59.999999 (PS3.5 6.2 TM).
            end = _time(low, upper=True)
    except ValueError:
        raise CriteriaError(
            f"{name} takes a time or a time range: HH[MM[SS[.FFFFFF]]], with an optional '-' between bounds."
        ) from None
    if start is None and end is None:
        raise CriteriaError(f"{name}: a range needs at least one bound.")
    return Range(start, end)


def _time(text: str, *, upper: bool) -> datetime.time:
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    hours, minutes, seconds, fraction = match.groups()
    fill = 59 if upper else 0
    if fraction is not None:
        microseconds = int(fraction.ljust(6, "9" if upper else "0"))
    else:
        microseconds = 999_999 if upper else 0
    return datetime.time(
        int(hours),
        int(minutes) if minutes is not None else fill,
        int(seconds) if seconds is not None else fill,
        microseconds,
    )
