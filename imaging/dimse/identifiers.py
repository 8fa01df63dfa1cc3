"""C-FIND, C-GET and C-MOVE identifiers (PS3.4 C.4) read into the query layer, and C-FIND results
written back as response identifiers.

The same matching as QIDO-RS (imaging.query, PS3.4 C.2.2.2): wildcards, date and time ranges, lists of
UIDs. Where PS3.4 leaves a choice:
- A key of the query level or above that the index holds is matched (when it has a value) and returned.
  Return-only keys (the counts, Instance Availability) are returned whatever value they carry.
- Any other key (not in the index, below the level, a sequence) is returned empty, never matched, and
  each response says so with Pending 0xFF01 (C.4.1.1.4 "optional keys not supported").
- Unique keys of the levels above are not required at any level, as in relational queries: a query
  matches what it names.
- An identifier without a level of its information model, or with a value that cannot be matched,
  fails with 0xA900 "Identifier does not match SOP Class", the Error Comment naming the attribute.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from imaging.query import (
    ATTRIBUTES,
    AnyOf,
    Attribute,
    CriteriaError,
    Level,
    Matcher,
    QueryCriteria,
    Row,
    matcher_for,
)
from imaging.query.attributes import LEVEL_UIDS, PATIENT_COUNTS, PATIENT_ID, level_uids_up_to

QUERY_RETRIEVE_LEVEL = 0x00080052
RETRIEVE_AE_TITLE = 0x00080054
SPECIFIC_CHARACTER_SET = 0x00080005
# Answered by the listener itself, never matched.
_CONTROL_KEYS = {QUERY_RETRIEVE_LEVEL, RETRIEVE_AE_TITLE, SPECIFIC_CHARACTER_SET}

# PS3.4 C.6.1.1.1: the instance level is called IMAGE in DIMSE.
_LEVEL_NAMES = {
    Level.PATIENT: "PATIENT",
    Level.STUDY: "STUDY",
    Level.SERIES: "SERIES",
    Level.INSTANCE: "IMAGE",
}
_LEVELS = {name: level for level, name in _LEVEL_NAMES.items()}
# The unique key of each level (PS3.4 C.6.1.1 and C.6.2.1).
_UNIQUE_KEYS = {Level.PATIENT: PATIENT_ID, **LEVEL_UIDS}


@dataclass(frozen=True)
class InformationModel:
    name: str
    levels: tuple[Level, ...]


PATIENT_ROOT = InformationModel("patient_root", (Level.PATIENT, Level.STUDY, Level.SERIES, Level.INSTANCE))
STUDY_ROOT = InformationModel("study_root", (Level.STUDY, Level.SERIES, Level.INSTANCE))

# The Query/Retrieve SOP Classes the listener serves (PS3.4 C.6.1 and C.6.2), by their model.
MODELS: dict[UID, InformationModel] = {
    PatientRootQueryRetrieveInformationModelFind: PATIENT_ROOT,
    PatientRootQueryRetrieveInformationModelGet: PATIENT_ROOT,
    PatientRootQueryRetrieveInformationModelMove: PATIENT_ROOT,
    StudyRootQueryRetrieveInformationModelFind: STUDY_ROOT,
    StudyRootQueryRetrieveInformationModelGet: STUDY_ROOT,
    StudyRootQueryRetrieveInformationModelMove: STUDY_ROOT,
}


class IdentifierError(ValueError):
    """An identifier that cannot be answered. The message names attributes, never their values: it is
    sent back as the Error Comment and audited."""


@dataclass(frozen=True)
class FindRequest:
    criteria: QueryCriteria
    # Keys the index cannot answer, with their VR: returned empty.
    unsupported: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class RetrieveRequest:
    """What a C-GET or C-MOVE asks for: the unique keys given, by tag, each a tuple of values (one
    Patient ID, or a list of UIDs). Keys of the level and above only."""

    level: Level
    keys: dict[int, tuple[str, ...]]


def find_request(identifier: Dataset, model: InformationModel) -> FindRequest:
    """Read a C-FIND identifier of `model`. Raises IdentifierError."""
    level = _query_level(identifier, model)
    supported = _supported_keys(level)
    matches = {}
    returned = level_uids_up_to(level)
    if model == PATIENT_ROOT:
        # The patient's unique key, so that a patient root answer can be retrieved by it.
        returned.add(PATIENT_ID)
    unsupported = []
    for element in identifier:
        tag = int(element.tag)
        if element.tag.group < 0x0008 or tag in _CONTROL_KEYS:
            continue
        attribute = supported.get(tag)
        if attribute is None:
            # Private keys are left out altogether, as are keys whose VR the request left ambiguous.
            if not element.tag.is_private and len(element.VR) == 2:
                unsupported.append((tag, element.VR))
            continue
        returned.add(tag)
        if attribute.matchable:
            matcher = _matcher(attribute, element)
            if matcher is not None:
                matches[tag] = matcher
    return FindRequest(QueryCriteria(level, matches, frozenset(returned)), tuple(unsupported))


def retrieve_request(identifier: Dataset, model: InformationModel) -> RetrieveRequest:
    """Read a C-GET or C-MOVE identifier of `model` (PS3.4 C.4.2.2.1, C.4.3.2.1): the unique key of the
    level is required; unique keys of the levels above narrow the retrieval when given."""
    level = _query_level(identifier, model)
    keys = {}
    for key_level in model.levels:
        if key_level > level:
            break
        tag = _UNIQUE_KEYS[key_level]
        values = _unique_key_values(ATTRIBUTES[tag], identifier.get(tag))
        if values:
            keys[tag] = values
        elif key_level == level:
            raise IdentifierError(f"{_named(ATTRIBUTES[tag])} is required at {_LEVEL_NAMES[level]} level.")
    return RetrieveRequest(level, keys)


def response_identifier(row: Row, request: FindRequest, retrieve_ae_title: str) -> Dataset:
    """The C-FIND response identifier of one result (PS3.4 C.4.1.1.3.2)."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = _LEVEL_NAMES[request.criteria.level]
    identifier.RetrieveAETitle = retrieve_ae_title
    for tag in sorted(request.criteria.return_tags):
        attribute = ATTRIBUTES.get(tag) or PATIENT_COUNTS[tag]
        identifier.add_new(tag, attribute.vr, _dicom_value(row.get(tag)))
    for tag, vr in request.unsupported:
        identifier.add_new(tag, vr, [] if vr == "SQ" else None)
    if any(isinstance(value, str) and not value.isascii() for value in row.values()):
        # The index holds text as decoded on ingest; UTF-8 writes any of it (PS3.3 C.12.1.1.2).
        identifier.SpecificCharacterSet = "ISO_IR 192"
    return identifier


def _query_level(identifier: Dataset, model: InformationModel) -> Level:
    value = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    level = _LEVELS.get(value)
    if level is None or level not in model.levels:
        allowed = ", ".join(_LEVEL_NAMES[level] for level in model.levels)
        raise IdentifierError(f"Query/Retrieve Level (0008,0052) must be one of {allowed}.")
    return level


def _supported_keys(level: Level) -> dict[int, Attribute]:
    keys = {tag: attribute for tag, attribute in ATTRIBUTES.items() if attribute.level <= level}
    if level == Level.PATIENT:
        keys.update(PATIENT_COUNTS)
    return keys


def _matcher(attribute: Attribute, element: DataElement) -> Matcher | None:
    try:
        return matcher_for(attribute, _text(attribute, element))
    except CriteriaError as error:
        raise IdentifierError(str(error)) from None


def _unique_key_values(attribute: Attribute, element: DataElement | None) -> tuple[str, ...]:
    if element is None:
        return ()
    text = _text(attribute, element)
    if attribute.vr != "UI":
        # Single value matching (PS3.4 C.2.2.2.1): a Patient ID is taken as it is, wildcards included.
        return (text.strip(),) if text.strip() else ()
    try:
        matcher = matcher_for(attribute, text)
    except CriteriaError as error:
        raise IdentifierError(str(error)) from None
    return matcher.values if isinstance(matcher, AnyOf) else ()


def _text(attribute: Attribute, element: DataElement) -> str:
    """A value as DICOM writes it in an identifier: multiple values joined by backslashes."""
    value = element.value
    if value is None:
        return ""
    if isinstance(value, bytes):
        raise IdentifierError(f"{_named(attribute)} has a value of VR {element.VR}, not {attribute.vr}.")
    if isinstance(value, MultiValue | list):
        return "\\".join(str(item) for item in value)
    return str(value)


def _dicom_value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return f"{value:%Y%m%d}"
    if isinstance(value, datetime.time):
        text = value.strftime("%H%M%S")
        return f"{text}.{value.microsecond:06d}" if value.microsecond else text
    return value


def _named(attribute: Attribute) -> str:
    return f"{attribute.keyword} ({attribute.tag >> 16:04X},{attribute.tag & 0xFFFF:04X})"
