"""An independent check of a de-identified dataset against PS3.15 Table E.1-1.

It reads the shipped JSON table itself and walks the original and the output side by side at every
sequence depth; it calls nothing of the engine but the public ProjectKeys (whose values it must match).
The engine's documented choices it expects (docs/deidentification.md):
- combined actions: X/Z -> Z; X/D, Z/D, X/Z/D -> D; X/Z/U* -> kept with the UIDs inside replaced;
- options over basic; between options C over K;
- Z and D on Patient's Name / Patient ID hold the project's pseudonyms;
- D on a sequence is one empty item; K, U and C on a sequence apply the table to each item, C also
  cleaning the free text of attributes the table does not list;
- an overlay group whose Overlay Data is removed goes as a whole; group lengths go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pydicom
from pydicom.tag import Tag

from imaging.deid import ProjectKeys, SafePrivate

TABLE = json.loads(
    (Path(__file__).resolve().parents[2] / "imaging" / "deid" / "data" / "table_e1_1.json").read_text("utf-8")
)
ROWS = {row["tag"]: row for row in TABLE["rows"]}
COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}
TEXT_VRS = {"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
DUMMY_FORMATS = {
    "DA": re.compile(r"^\d{8}$"),
    "TM": re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$"),
    "DT": re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$"),
    "AS": re.compile(r"^\d{3}[DWMY]$"),
}
MARKERS = {Tag(0x0012, 0x0062), Tag(0x0012, 0x0063), Tag(0x0012, 0x0064), Tag(0x0028, 0x0303)}
CODES = {
    "clean-pixel-data": "113101",
    "clean-graphics": "113103",
    "clean-structured-content": "113104",
    "clean-descriptors": "113105",
    "retain-long-full-dates": "113106",
    "retain-long-modified-dates": "113107",
    "retain-patient-characteristics": "113108",
    "retain-device-identity": "113109",
    "retain-uids": "113110",
    "retain-safe-private": "113111",
    "retain-institution-identity": "113112",
}


def table_row(tag: Tag) -> dict | None:
    if tag.group % 2:
        return ROWS["PRIVATE"]
    if tag.group & 0xFF00 == 0x5000:
        return ROWS["(50XX,XXXX)"]
    if tag.group & 0xFF00 == 0x6000 and tag.element in (0x3000, 0x4000):
        return ROWS[f"(60XX,{tag.element:04X})"]
    return ROWS.get(f"({tag.group:04X},{tag.element:04X})")


def expected_action(row: dict, options: set[str]) -> str:
    chosen = {action for name, action in row["options"].items() if name in options}
    if "C" in chosen:
        return "C"
    if "K" in chosen:
        return "K"
    return COMBINED.get(row["basic"], row["basic"])


def values_of(value: object) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return list(value)
    return [value]


def vr_of(elem: pydicom.DataElement) -> str:
    return str(elem.VR).split(" or ")[0]


def identifiers(ds: pydicom.Dataset) -> list[str]:
    found = [str(ds.get(k) or "") for k in ("PatientID", "AccessionNumber", "PatientBirthDate")]
    found += [str(v) for v in values_of(ds.get("OtherPatientIDs"))]
    name = str(ds.get("PatientName") or "")
    found += [name, *re.split(r"[\^=\s]+", name)]
    return [v.strip() for v in found if len(v.strip()) >= 3]


def shifted(value: str, days: int) -> str:
    head = value[:8]
    moved = date(int(head[:4]), int(head[4:6]), int(head[6:8])) + timedelta(days=days)
    return moved.strftime("%Y%m%d") + value[8:]


@dataclass
class Check:
    original: pydicom.Dataset
    options: set[str]
    keys: ProjectKeys
    safe_private: tuple[SafePrivate, ...] = ()
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.patient_id = str(self.original.get("PatientID") or "")
        self.offset = self.keys.date_offset_days(self.patient_id)
        words = identifiers(self.original)
        self.phi = (
            re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.I) if words else None
        )

    def run(self, output: pydicom.Dataset) -> list[str]:
        self.compare(self.original, output, "", cleaned=False)
        self.markers(output)
        return self.problems

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def kept_private(self, ds: pydicom.Dataset) -> set:
        if "retain-safe-private" not in self.options:
            return set()
        safe = {(s.creator, s.group, s.element) for s in self.safe_private}
        kept = set()
        for tag in list(ds.keys()):
            if tag.group % 2 and tag.element >= 0x1000:
                creator = Tag(tag.group, tag.element >> 8)
                if creator in ds and (str(ds[creator].value).strip(), tag.group, tag.element & 0xFF) in safe:
                    kept |= {tag, creator}
        return kept

    def compare(self, orig: pydicom.Dataset, out: pydicom.Dataset, path: str, cleaned: bool) -> None:
        kept_private = self.kept_private(orig)
        gone_overlays = {
            t.group for t in list(orig.keys()) if t.group & 0xFF00 == 0x6000 and t.element == 0x3000
        } if "clean-graphics" not in self.options else set()  # fmt: skip
        for elem in orig:
            tag, where = elem.tag, f"{path}{elem.tag}"
            if path == "" and tag in MARKERS:
                continue  # set afresh by the de-identifier, checked by markers()
            if tag.element == 0 or tag.group in gone_overlays:
                if tag in out:
                    self.fail(where, "group length or overlay of a removed plane remains")
            elif tag.group % 2:
                if (tag in out) != (tag in kept_private):
                    self.fail(where, "private element kept" if tag in out else "safe private element lost")
            elif (row := table_row(tag)) is None:
                self.unlisted(elem, out, where, cleaned)
            else:
                self.listed(elem, out, where, expected_action(row, self.options))
        extra = set(out.keys()) - set(orig.keys()) - (MARKERS if path == "" else set())
        if extra:
            self.fail(path or "top", f"elements added: {sorted(extra)}")

    def unlisted(self, elem: pydicom.DataElement, out: pydicom.Dataset, where: str, cleaned: bool) -> None:
        if elem.tag not in out:
            self.fail(where, "an attribute Table E.1-1 does not list was removed")
            return
        new = out[elem.tag]
        if vr_of(elem) == "SQ":
            self.items(elem, new, where, cleaned)
        elif cleaned and vr_of(elem) in TEXT_VRS:
            self.clean_text(elem, new, where)
        elif new.value != elem.value:
            self.fail(where, "an attribute Table E.1-1 does not list was changed")

    def listed(self, elem: pydicom.DataElement, out: pydicom.Dataset, where: str, action: str) -> None:
        if action == "X":
            if elem.tag in out:
                self.fail(where, "X attribute remains")
            return
        if elem.tag not in out:
            self.fail(where, f"{action} attribute was removed")
            return
        new, vr = out[elem.tag], vr_of(elem)
        if action in ("Z", "D") and elem.keyword == "PatientID":
            if new.value != self.keys.patient_id(str(elem.value or "")):
                self.fail(where, "Patient ID is not the project pseudonym")
        elif action in ("Z", "D") and elem.keyword == "PatientName":
            if str(new.value) != self.keys.patient_name(self.patient_id):
                self.fail(where, "Patient's Name is not the project pseudonym")
        elif action == "Z":
            if (vr == "SQ" and len(new.value)) or (vr != "SQ" and not new.is_empty):
                self.fail(where, "Z attribute is not empty")
        elif action == "D":
            self.dummy(elem, new, where)
        elif action == "U" and vr == "UI":
            for before, after in zip(values_of(elem.value), values_of(new.value), strict=True):
                want = before if before.startswith("1.2.840.10008.") else self.keys.uid(before)
                if after != want:
                    self.fail(where, "UID is not ProjectKeys.uid of the original")
        elif vr == "SQ" and action in ("U", "K", "C"):
            self.items(elem, new, where, cleaned=action == "C")
        elif action == "C" and vr in ("DA", "DT"):
            before = [str(v) for v in values_of(elem.value)]
            after = [str(v) for v in values_of(new.value)]
            readable = all(re.match(r"^\d{8}$" if vr == "DA" else r"^\d{8}", v) for v in before)
            want = [shifted(v, self.offset) for v in before] if readable else []
            if after != want:
                self.fail(where, f"date not shifted by the patient's offset: {new.value!r}")
        elif action == "C" and vr in TEXT_VRS:
            self.clean_text(elem, new, where)
        elif new.value != elem.value:
            self.fail(where, f"{action} attribute changed")

    def dummy(self, elem: pydicom.DataElement, new: pydicom.DataElement, where: str) -> None:
        vr = vr_of(elem)
        if new.is_empty or (vr == "SQ" and len(new.value) == 0):
            self.fail(where, "D attribute is empty")
        elif vr == "SQ":
            if any(len(item) for item in new.value):
                self.fail(where, "D sequence keeps content")
        elif vr == "UI":
            for uid in values_of(new.value):
                if len(uid) > 64 or not UID_RE.match(uid):
                    self.fail(where, f"D UID {uid!r} is not a valid UID")
        elif vr in DUMMY_FORMATS and not DUMMY_FORMATS[vr].match(str(new.value)):
            self.fail(where, f"D value {new.value!r} is not a valid {vr}")
        elif not elem.is_empty and new.value == elem.value:
            self.fail(where, "D attribute kept its original value")

    def clean_text(self, elem: pydicom.DataElement, new: pydicom.DataElement, where: str) -> None:
        text = " ".join(str(v) for v in values_of(new.value))
        if self.phi is not None and self.phi.search(text):
            self.fail(where, "cleaned text still holds an identifying value of the patient")
        original = " ".join(str(v) for v in values_of(elem.value))
        if (self.phi is None or not self.phi.search(original)) and new.value != elem.value:
            self.fail(where, "text without identifying values was changed by cleaning")

    def items(self, elem: pydicom.DataElement, new: pydicom.DataElement, where: str, cleaned: bool) -> None:
        if len(new.value) != len(elem.value):
            self.fail(where, "kept sequence lost or gained items")
            return
        for i, (before, after) in enumerate(zip(elem.value, new.value, strict=True)):
            self.compare(before, after, f"{where}[{i}].", cleaned)

    def markers(self, out: pydicom.Dataset) -> None:
        if out.get("PatientIdentityRemoved") != "YES":
            self.fail("top", "Patient Identity Removed is not YES")
        codes = [
            (i.CodeValue, i.CodingSchemeDesignator) for i in out.get("DeidentificationMethodCodeSequence", [])
        ]
        want = {"113100"} | {CODES[o] for o in self.options}
        if {c for c, _ in codes} - {"113101"} != want - {"113101"} or any(s != "DCM" for _, s in codes):
            self.fail("top", f"De-identification Method Code Sequence {codes} is not {sorted(want)}")
        if not out.get("DeidentificationMethod"):
            self.fail("top", "De-identification Method is missing")
        temporal = (
            "UNMODIFIED"
            if "retain-long-full-dates" in self.options
            else "MODIFIED"
            if "retain-long-modified-dates" in self.options
            else "REMOVED"
        )
        if out.get("LongitudinalTemporalInformationModified") != temporal:
            self.fail("top", f"Longitudinal Temporal Information Modified is not {temporal}")
        if out.file_meta.MediaStorageSOPInstanceUID != out.SOPInstanceUID:
            self.fail("meta", "Media Storage SOP Instance UID does not follow SOP Instance UID")
