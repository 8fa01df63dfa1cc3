"""The de-identification engine: PS3.15 Table E.1-1 and the profile's options applied to every data
element of one dataset, at every sequence depth, plus the pixel policy and the Annex E markers."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, MediaStorageDirectoryStorage

from imaging.deid.pixels import MaskingError, PixelPolicy, mask_pixels
from imaging.deid.private import kept_private_tags
from imaging.deid.profile import BASIC_PROFILE_CODE, BASIC_PROFILE_LABEL, Option, Profile
from imaging.deid.pseudonyms import ProjectKeys
from imaging.deid.table import CLEAN, DUMMY, EMPTY, KEEP, REMOVE, UID, Table, load_table
from imaging.deid.values import (
    DATE_VRS,
    TEXT_VRS,
    base_vr,
    clean_text,
    identifying_values,
    scrubber,
    set_dummy,
    shift_dates,
)

PATIENT_NAME = Tag(0x0010, 0x0010)
PATIENT_ID = Tag(0x0010, 0x0020)
# PS3.5 9.1: UIDs under the DICOM root name things the standard defines (SOP classes, transfer
# syntaxes, coding schemes, well-known frames of reference); they identify nobody and must stay.
WELL_KNOWN_UID_ROOT = "1.2.840.10008."
IMPLEMENTATION_VERSION_NAME = "PALISADE_DEID"
# File Meta elements that name the sending application or carry private data (PS3.15 E.1.1 rule 7).
_META_REMOVED = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)
# Burned-in annotation is refused unless the caller brings mask rules (PixelPolicy is immutable).
DEFAULT_PIXEL_POLICY = PixelPolicy()


class Refused(Exception):
    """The object must not leave de-identified; `reason` names no patient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class DeidOutcome:
    dataset: pydicom.Dataset
    report: dict


@dataclass
class _Run:
    table: Table
    profile: Profile
    keys: ProjectKeys
    patient_id: str
    offset_days: int
    scrub: re.Pattern[str] | None
    actions: Counter = field(default_factory=Counter)
    private_removed: int = 0
    private_kept: int = 0
    texts_cleaned: int = 0
    walked: set[int] = field(default_factory=set)

    def map_uid(self, value: str) -> str:
        value = str(value).strip("\x00 ")
        return value if value.startswith(WELL_KNOWN_UID_ROOT) else self.keys.uid(value)


def deidentify(
    ds: pydicom.Dataset, profile: Profile, keys: ProjectKeys, pixels: PixelPolicy = DEFAULT_PIXEL_POLICY
) -> DeidOutcome:
    """Apply the profile to `ds` in place (callers pass a freshly read dataset) and return it with a
    report free of PHI; raise Refused when the object must not leave."""
    if _is_media_directory(ds):
        # Its records repeat every patient's name and ID and point at files by their original paths.
        raise Refused("a DICOMDIR is not de-identified: build a new one from the de-identified files")
    if not (ds.get("SOPClassUID") and ds.get("SOPInstanceUID")):
        # Annex E de-identifies composite instances; without their identity nothing could refer to the
        # result, and the File Meta Information it needs cannot be written.
        raise Refused("not a composite instance: SOP Class UID or SOP Instance UID is missing")
    if Option.CLEAN_PIXEL_DATA in profile.options:
        pixels = dataclasses.replace(pixels, burned_in="clean")
    decision = pixels.decide(ds)
    if decision.action == "refuse":
        raise Refused(decision.reason)

    patient_id = str(ds.get("PatientID") or "")
    run = _Run(
        table=load_table(),
        profile=profile,
        keys=keys,
        patient_id=patient_id,
        offset_days=keys.date_offset_days(patient_id),
        scrub=scrubber(identifying_values(ds)),
    )
    applied = set(profile.options) - {Option.CLEAN_PIXEL_DATA}
    if decision.action == "mask":
        try:
            mask_pixels(ds, decision.rectangles)
        except MaskingError as exc:
            raise Refused(f"{decision.reason}, but {exc}") from None
        applied.add(Option.CLEAN_PIXEL_DATA)

    _walk(ds, run, in_cleaned_sequence=False)
    _mark(ds, profile, applied, run.table.edition)
    _rewrite_file_meta(ds, run)
    report = {
        "standard": f"DICOM PS3.15 {run.table.edition} Annex E",
        "options": sorted(o.value for o in applied),
        "method_codes": [BASIC_PROFILE_CODE, *sorted(o.code for o in applied)],
        "actions": dict(sorted(run.actions.items())),
        "private_removed": run.private_removed,
        "private_kept": run.private_kept,
        "texts_cleaned": run.texts_cleaned,
        "pixels": {"action": decision.action, "reason": decision.reason},
    }
    return DeidOutcome(ds, report)


def _walk(ds: pydicom.Dataset, run: _Run, in_cleaned_sequence: bool) -> None:
    if id(ds) in run.walked:
        return  # an item shared between sequences of a dataset built in memory: mapped once is enough
    run.walked.add(id(ds))
    kept_private = kept_private_tags(ds, run.profile)
    removed_overlays: set[int] = set()
    for tag in list(ds.keys()):
        if tag.element == 0x0000:
            # Group lengths are deprecated (PS3.5 7.2) and would be wrong once elements are gone.
            del ds[tag]
            continue
        if tag.is_private:
            _private(ds, tag, tag in kept_private, run)
            continue
        row = run.table.row(tag)
        elem = ds[tag]
        if row is None:
            _unlisted(elem, run, in_cleaned_sequence)
            continue
        action = row.action(run.profile.options)
        run.actions[action] += 1
        if action == REMOVE:
            del ds[tag]
            if row is run.table.overlay_data:
                removed_overlays.add(tag.group)
        else:
            _apply(elem, action, run, in_cleaned_sequence)
    # An overlay plane without its Overlay Data (Type 1) is invalid: its other attributes go with it.
    for tag in [t for t in list(ds.keys()) if t.group in removed_overlays]:
        del ds[tag]


def _apply(elem: DataElement, action: str, run: _Run, in_cleaned_sequence: bool) -> None:
    vr = base_vr(elem)
    if action in (EMPTY, DUMMY) and elem.tag in (PATIENT_NAME, PATIENT_ID):
        # Z allows "a non-zero length value that may be a dummy value" (E.1.1): the keyed pseudonym is
        # that dummy, and it keeps one patient's objects together within the project.
        if elem.tag == PATIENT_ID:
            elem.value = run.keys.patient_id(str(elem.value or ""))
        else:
            elem.value = run.keys.patient_name(run.patient_id)
    elif action == EMPTY:
        elem.value = Sequence() if vr == "SQ" else elem.empty_value
    elif action == DUMMY:
        set_dummy(elem, run.map_uid)
    elif vr == "SQ":
        # K and U keep a sequence by applying the profile to each item (E.1.1); C does the same and also
        # cleans the free text that the table does not list (content items, text objects).
        for item in elem.value:
            _walk(item, run, in_cleaned_sequence or action == CLEAN)
    elif action == UID and vr == "UI":
        values = [run.map_uid(v) for v in _as_list(elem.value) if str(v).strip("\x00 ")]
        elem.value = values if len(values) > 1 else (values[0] if values else elem.empty_value)
    elif action == UID:
        set_dummy(elem, run.map_uid)
    elif action == CLEAN:
        _clean(elem, run)
    elif action != KEEP:
        raise ValueError(f"Table E.1-1 action {action!r} is not known to the engine")


def _clean(elem: DataElement, run: _Run) -> None:
    vr = base_vr(elem)
    if vr in DATE_VRS:
        shift_dates(elem, run.offset_days)
    elif vr in TEXT_VRS:
        run.texts_cleaned += clean_text(elem, run.scrub)
    # Anything else under C (overlay and curve bitmaps, codes, numbers) carries no text to clean here.


def _unlisted(elem: DataElement, run: _Run, in_cleaned_sequence: bool) -> None:
    # Annex E keeps attributes that Table E.1-1 does not list; their sequences still get the profile.
    vr = base_vr(elem)
    if vr == "SQ":
        for item in elem.value:
            _walk(item, run, in_cleaned_sequence)
    elif in_cleaned_sequence and vr in TEXT_VRS:
        run.texts_cleaned += clean_text(elem, run.scrub)


def _private(ds: pydicom.Dataset, tag: BaseTag, keep: bool, run: _Run) -> None:
    if not keep:
        del ds[tag]
        run.private_removed += 1
        return
    run.private_kept += 1
    elem = ds[tag]
    if base_vr(elem) == "SQ":
        for item in elem.value:
            _walk(item, run, in_cleaned_sequence=False)


def _mark(ds: pydicom.Dataset, profile: Profile, applied: set[Option], edition: str) -> None:
    ds.PatientIdentityRemoved = "YES"
    ordered = sorted(applied, key=lambda o: o.code)
    # De-identification Method is LO (64 characters a value), so each part is a value of its own.
    ds.DeidentificationMethod = [f"DICOM PS3.15 {edition} Annex E", BASIC_PROFILE_LABEL] + [
        o.label for o in ordered
    ]
    items = []
    for code, meaning in [(BASIC_PROFILE_CODE, BASIC_PROFILE_LABEL)] + [(o.code, o.label) for o in ordered]:
        item = pydicom.Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    if Option.RETAIN_LONG_FULL_DATES in profile.options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif Option.RETAIN_LONG_MODIFIED_DATES in profile.options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def _rewrite_file_meta(ds: pydicom.Dataset, run: _Run) -> None:
    """PS3.15 E.1.1 rule 7: the File Meta Information and preamble describe the de-identifier, not the
    source; Media Storage SOP Instance UID follows the (new) SOP Instance UID (PS3.10 7.1)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        implicit = getattr(ds, "original_encoding", (True, True))[0]
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    if ds.get("SOPClassUID"):
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if ds.get("SOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    elif meta.get("MediaStorageSOPInstanceUID") and Option.RETAIN_UIDS not in run.profile.options:
        meta.MediaStorageSOPInstanceUID = run.map_uid(meta.MediaStorageSOPInstanceUID)
    for keyword in _META_REMOVED:
        if keyword in meta:
            delattr(meta, keyword)
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    if getattr(ds, "preamble", None) is not None:
        ds.preamble = b"\x00" * 128


def _is_media_directory(ds: pydicom.Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    sop_class = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return sop_class == MediaStorageDirectoryStorage or "DirectoryRecordSequence" in ds


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, list | tuple | pydicom.multival.MultiValue) else [value]
