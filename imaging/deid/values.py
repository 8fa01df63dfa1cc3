"""Replacement values: dummies valid for each VR (action D), date shifts (action C under the Retain
Longitudinal Temporal Information Modified Dates Option) and text cleaning (action C elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta

import pydicom
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

TEXT_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
DATE_VRS = frozenset({"DA", "DT", "TM"})
# PS3.5 6.2: the dummies fit the shortest maximum length of their VR (AE and SH: 16 characters).
_DUMMY_TEXT = "ANONYMOUS"
_DUMMIES: dict[str, object] = {
    "AE": _DUMMY_TEXT,
    "AS": "000Y",
    "AT": 0,
    "CS": _DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "FD": 0.0,
    "FL": 0.0,
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "SL": 0,
    "SS": 0,
    "ST": _DUMMY_TEXT,
    "SV": 0,
    "TM": "000000",
    "UC": _DUMMY_TEXT,
    "UL": 0,
    "UR": "urn:anonymous",
    "US": 0,
    "UT": _DUMMY_TEXT,
    "UV": 0,
}
_SPACES = re.compile(r"[ \t]{2,}")
# OB, OD, OF, OL, OV, OW and UN: two zero bytes keep the even length PS3.5 7.1.1 asks for.
_DUMMY_BYTES = b"\x00\x00"


def base_vr(elem: DataElement) -> str:
    """The VR to act on: ambiguous dictionary VRs ("US or SS", "OB or OW") share their dummy."""
    return str(elem.VR).split(" or ")[0]


def set_dummy(elem: DataElement, map_uid: Callable[[str], str]) -> None:
    """Replace the value with a non-empty dummy valid for the VR (PS3.15 E.1.1 action D)."""
    vr = base_vr(elem)
    if vr == "SQ":
        # A sequence and all of its contents are replaced (E.1.1): one empty item keeps it non-empty.
        elem.value = Sequence([pydicom.Dataset()])
    elif vr == "UI":
        values = [v for v in _values(elem.value) if v] or [""]
        elem.value = [map_uid(v) for v in values] if len(values) > 1 else map_uid(values[0])
    else:
        elem.value = _DUMMIES.get(vr, _DUMMY_BYTES)


def shift_dates(elem: DataElement, days: int) -> None:
    """Move DA and DT values by whole days; TM is a time of day, which a whole-day shift leaves as is.

    A value that does not parse as a date cannot be shifted, so it is emptied rather than kept."""
    vr = base_vr(elem)
    if vr == "TM" or elem.is_empty:
        return
    shifted = [_shift(str(v), days, vr) for v in _values(elem.value)]
    if any(v is None for v in shifted):
        elem.clear()
    else:
        elem.value = shifted if len(shifted) > 1 else shifted[0]


def _shift(value: str, days: int, vr: str) -> str | None:
    # DA is exactly YYYYMMDD (the ACR-NEMA "YYYY.MM.DD" form included would keep month and day);
    # DT starts with YYYY[MM[DD]] and keeps its precision and time part (PS3.5 6.2).
    value = value.strip()
    digits = len(value) - len(value.lstrip("0123456789"))
    precision = min(digits, 8)
    if precision not in (4, 6, 8) or (vr == "DA" and (precision, len(value)) != (8, 8)):
        return None
    head = value[:precision]
    try:
        day = date(int(head[:4]), int(head[4:6] or 1), int(head[6:8] or 1)) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return day.strftime("%Y%m%d")[:precision] + value[precision:]


def identifying_values(ds: pydicom.Dataset) -> list[str]:
    """The patient's own identifying values in the original dataset: what cleaning (C) removes."""
    found: list[str] = []
    for keyword in ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"):
        for name in _values(ds.get(keyword)):
            text = str(name)
            found.append(text)
            found.extend(part for part in re.split(r"[\^=\s,]+", text) if len(part) >= 2)
    for keyword in (
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "MedicalRecordLocator",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MilitaryRank",
        "RegionOfResidence",
    ):
        found.extend(str(v) for v in _values(ds.get(keyword)))
    for item in ds.get("OtherPatientIDsSequence") or ():
        found.extend(str(v) for v in _values(item.get("PatientID")))
    birth = str(ds.get("PatientBirthDate") or "")
    if len(birth) == 8 and birth.isdigit():
        y, m, d = birth[:4], birth[4:6], birth[6:]
        found.extend([birth, f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{m}/{d}/{y}", f"{d}/{m}/{y}"])
    return sorted({v.strip() for v in found if len(v.strip()) >= 2}, key=len, reverse=True)


def scrubber(values: Iterable[str]) -> re.Pattern[str] | None:
    values = list(values)
    if not values:
        return None
    # Whole words only: a two-letter name must not eat the middle of "clinic".
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, values)) + r")(?!\w)", re.IGNORECASE)


def clean_text(elem: DataElement, pattern: re.Pattern[str] | None) -> bool:
    """Remove the patient's identifying values from a text value; True when something was removed."""
    if pattern is None or elem.is_empty:
        return False
    original = [str(v) for v in _values(elem.value)]
    cleaned = [_SPACES.sub(" ", pattern.sub("", v)).strip() if pattern.search(v) else v for v in original]
    if cleaned == original:
        return False
    elem.value = cleaned if len(cleaned) > 1 else cleaned[0]
    return True


def _values(value: object) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]
