"""Parse and validate one uploaded DICOM file, without a database and without loading pixel data.

Everything read from the file is hostile until proven otherwise (docs: THREATS.md "Hostile DICOM and
uploads"). `parse_instance` either returns the plain values the index needs or raises IngestRejected; any
other exception escaping pydicom is converted at one boundary, so callers never see a crash.

Choices made here:
- A file must be in the PS3.10 format: 128-byte preamble, "DICM", File Meta Information with a Transfer
  Syntax UID (PS3.10 7.1). PS3.18 STOW-RS carries PS3.10 files too. A bare dataset (no meta) leaves the
  transfer syntax to guesswork, so it is refused ("no_file_meta") instead of guessed.
- Values the standard tolerates or pydicom can read with a warning (an IS of '1A', a date of '20231399')
  are accepted and indexed as None; only the four identifying UIDs and the file meta must be right.
- The preamble is reported, not rejected: a TIFF header there is legal (PS3.10 7.5), an executable header
  is a polyglot (CVE-2019-11687). Callers store the bytes of `zeroed_preamble_reader` either way.
"""

import contextvars
import datetime
import io
import logging
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, replace
from math import prod
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import (
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    UncompressedTransferSyntaxes,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, PersonName

from imaging.ingest.errors import IngestRejected
from imaging.ingest.limits import IngestLimits

PREAMBLE_LENGTH = 128
_PREFIX_END = PREAMBLE_LENGTH + 4
# Values above this size are skipped while parsing (pydicom "defer_size"), so a large private blob or
# encapsulated document costs no memory; the index never needs them.
_DEFER_SIZE = 1024 * 1024
# Encapsulated Pixel Data is walked fragment by fragment (PS3.5 A.4); more fragments than this is an
# attack on the walk itself, not an image.
_MAX_FRAGMENTS = 1_000_000
_PIXEL_DATA_TAGS = {
    0x7FE00010: "Pixel Data",
    0x7FE00008: "Float Pixel Data",
    0x7FE00009: "Double Float Pixel Data",
}
_ITEM_TAG = 0xFFFEE000
_SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD

# PS3.5 9.1: digits and dots, no empty component, no leading zero in a component other than "0" itself.
_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_UID_MAX_LENGTH = 64

# Field lengths of imaging/models.py: values are truncated to them rather than refused.
_MAX_LENGTHS = {
    "PatientID": 64,
    "IssuerOfPatientID": 64,
    "PatientName": 324,
    "PatientSex": 16,
    "AccessionNumber": 16,
    "StudyID": 16,
    "StudyDescription": 64,
    "ReferringPhysicianName": 324,
    "Modality": 16,
    "SeriesDescription": 64,
    "BodyPartExamined": 16,
}

_REQUIRED_UIDS = {
    "SOPClassUID": "SOP Class UID (0008,0016)",
    "SOPInstanceUID": "SOP Instance UID (0008,0018)",
    "StudyInstanceUID": "Study Instance UID (0020,000D)",
    "SeriesInstanceUID": "Series Instance UID (0020,000E)",
}

# Magic numbers of executables and archives that make a preamble a polyglot (CVE-2019-11687).
_PREAMBLE_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "pe"),
    (b"\x7fELF", "elf"),
    (b"\xfe\xed\xfa\xce", "macho"),
    (b"\xfe\xed\xfa\xcf", "macho"),
    (b"\xce\xfa\xed\xfe", "macho"),
    (b"\xcf\xfa\xed\xfe", "macho"),
    (b"\xca\xfe\xba\xbe", "macho"),
    (b"#!", "script"),
    (b"PK\x03\x04", "zip"),
)


# pydicom logs what it finds wrong with a value, quoting the value (PHI), to its "pydicom" logger. While
# this module parses, those records are dropped; the filter is per context, so other threads still log.
_PARSING = contextvars.ContextVar("palisade_ingest_parsing", default=False)


class _DropWhileParsing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _PARSING.get()


logging.getLogger("pydicom").addFilter(_DropWhileParsing())


@dataclass(frozen=True)
class ParsedInstance:
    """What the index needs from one object, as plain Python values."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: datetime.date | None
    patient_sex: str
    study_date: datetime.date | None
    study_time: datetime.time | None
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    modality: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    size_bytes: int
    # True when the 128-byte preamble is not all zeros (a TIFF header there is legal, PS3.10 7.5).
    preamble_nonzero: bool
    # "pe", "elf", "macho", "script" or "zip" when the preamble holds an executable or archive header.
    preamble_threat: str | None
    # True when the Specific Character Set was unknown or a value did not decode with it, so text was
    # decoded with the default repertoire instead (some characters may be replaced).
    character_set_fallback: bool


def parse_instance(path: Path, *, limits: IngestLimits | None = None) -> ParsedInstance:
    """Parse and validate the DICOM file at `path`; raise IngestRejected if it cannot be ingested.

    Failing to stat or open `path` is the server's problem (an OSError), not the upload's.
    """
    limits = limits or IngestLimits.from_settings()
    size = path.stat().st_size
    if size > limits.max_object_bytes:
        raise IngestRejected(
            "too_large",
            f"The file is larger than the {limits.max_object_bytes} bytes allowed for one object.",
        )
    with path.open("rb") as fp:
        header = fp.read(_PREFIX_END)
    _require_part10_prefix(header, size)
    # The one broad catch of the module: pydicom raises many exception types on hostile input
    # (RecursionError, struct.error, ValueError, OverflowError, MemoryError, UnicodeError, EOFError,
    # KeyError, ...) and none may reach the caller as a crash. Warnings are recorded, never shown,
    # because pydicom quotes values (PHI) in them (catch_warnings is process-wide: Celery's prefork
    # workers parse one object per process at a time).
    token = _PARSING.set(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = _parse(path, header[:PREAMBLE_LENGTH], size, limits)
        if any("encod" in str(w.message).lower() for w in caught):
            # pydicom fell back while decoding a value (it warns rather than raise).
            parsed = replace(parsed, character_set_fallback=True)
        return parsed
    except IngestRejected:
        raise
    except RecursionError:
        raise IngestRejected(
            "too_deep", "Sequences are nested too deeply to read safely; the object cannot be ingested."
        ) from None
    except MemoryError:
        raise IngestRejected("too_large", "The object needs more memory to read than is allowed.") from None
    except (EOFError, struct.error):
        raise IngestRejected("truncated", "The file ends in the middle of a data element.") from None
    except Exception as exc:
        # Only the exception type is kept: messages from pydicom can quote values from the file.
        raise IngestRejected(
            "corrupt", "The DICOM data set is malformed and could not be read.", detail=type(exc).__name__
        ) from None
    finally:
        _PARSING.reset(token)


def preamble_threat(preamble: bytes) -> str | None:
    """The kind of executable or archive whose header fills the preamble, if any (CVE-2019-11687)."""
    for magic, kind in _PREAMBLE_MAGICS:
        if preamble.startswith(magic):
            return kind
    return None


def zeroed_preamble_reader(path: Path) -> BinaryIO:
    """The bytes of `path`, with the 128-byte preamble zeroed when the file has one (PS3.10 7.1).

    Streams the file with bounded memory, for a caller that hashes and encrypts in one pass.
    """
    return io.BufferedReader(_ZeroedPreambleRaw(path))


class _ZeroedPreambleRaw(io.RawIOBase):
    def __init__(self, path: Path) -> None:
        self._fp = path.open("rb")
        self._fp.seek(PREAMBLE_LENGTH)
        has_preamble = self._fp.read(4) == b"DICM"
        self._fp.seek(0)
        self._zero_until = PREAMBLE_LENGTH if has_preamble else 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        position = self._fp.tell()
        count = self._fp.readinto(buffer)
        if count and position < self._zero_until:
            end = min(count, self._zero_until - position)
            memoryview(buffer)[:end] = bytes(end)
        return count

    def close(self) -> None:
        self._fp.close()
        super().close()


def _require_part10_prefix(header: bytes, size: int) -> None:
    if size == 0:
        raise IngestRejected("not_dicom", "The file is empty.")
    if len(header) == _PREFIX_END and header[PREAMBLE_LENGTH:] == b"DICM":
        return
    # A bare dataset starts with a group 0x0002 or 0x0008 tag (little endian); anything else is not DICOM.
    if header[:2] in (b"\x02\x00", b"\x08\x00"):
        raise IngestRejected(
            "no_file_meta",
            "The file has no DICOM File Meta Information (no 'DICM' after a 128-byte preamble); "
            "PS3.10 requires it: export the object again as a DICOM Part 10 file.",
        )
    raise IngestRejected(
        "not_dicom",
        "The file is not a DICOM Part 10 file: there is no 'DICM' marker after a 128-byte preamble.",
    )


def _parse(path: Path, preamble: bytes, size: int, limits: IngestLimits) -> ParsedInstance:
    meta = read_file_meta_info(path)
    transfer_syntax = _validated_meta(meta)
    deflated = transfer_syntax == DeflatedExplicitVRLittleEndian
    if deflated:
        _check_inflated_size(path, meta, limits)
    with path.open("rb") as fp:
        # Deflated data sets are inflated into memory by pydicom (bounded above), so values stay there;
        # otherwise large values are skipped, and reading stops at the pixel data to never load it.
        ds = dcmread(
            fp,
            stop_before_pixels=not deflated,
            defer_size=None if deflated else _DEFER_SIZE,
        )
        stop_position = fp.tell()
        if stop_position > size:
            # pydicom skips a deferred value by seeking, and stops quietly when the next read is empty.
            raise _truncated("A data element's length runs past the end of the file.")
        _check_structure(ds, limits.max_sequence_depth)
        uids = {keyword: _required_uid(ds, keyword, label) for keyword, label in _REQUIRED_UIDS.items()}
        _check_meta_agrees(meta, uids)
        rows, columns = _uint(ds, "Rows"), _uint(ds, "Columns")
        frames = _number_of_frames(ds)
        expected_pixel_bytes = _check_pixel_budget(ds, rows, columns, frames, limits)
        if deflated:
            _check_inflated_pixel_data(ds, transfer_syntax, expected_pixel_bytes)
        else:
            _check_pixel_data_in_file(fp, stop_position, size, transfer_syntax, expected_pixel_bytes)
    threat = preamble_threat(preamble)
    return ParsedInstance(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=str(transfer_syntax),
        patient_id=_text(ds, "PatientID"),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_date(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        study_date=_date(ds, "StudyDate"),
        study_time=_time(ds, "StudyTime"),
        accession_number=_text(ds, "AccessionNumber"),
        study_id=_text(ds, "StudyID"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician_name=_text(ds, "ReferringPhysicianName"),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part_examined=_text(ds, "BodyPartExamined"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=rows,
        columns=columns,
        number_of_frames=frames,
        size_bytes=size,
        preamble_nonzero=any(preamble),
        preamble_threat=threat,
        character_set_fallback=_unknown_character_set(ds),
    )


# --- File meta (PS3.10 7.1) ---------------------------------------------------------------------------


def _validated_meta(meta: Dataset) -> str:
    transfer_syntax = _meta_uid(meta, "TransferSyntaxUID", "Transfer Syntax UID (0002,0010)")
    media_class = _meta_uid(meta, "MediaStorageSOPClassUID", "Media Storage SOP Class UID (0002,0002)")
    _meta_uid(meta, "MediaStorageSOPInstanceUID", "Media Storage SOP Instance UID (0002,0003)")
    if media_class == MediaStorageDirectoryStorage:
        raise IngestRejected(
            "dicomdir",
            "This is a DICOMDIR (an index of a CD or USB export), not an image; upload the image files "
            "it lists instead.",
        )
    if transfer_syntax not in AllTransferSyntaxes:
        raise IngestRejected(
            "unsupported",
            "The transfer syntax in the file meta information is not one this archive supports; "
            "send the object as Explicit VR Little Endian or a standard compressed syntax.",
        )
    return transfer_syntax


def _meta_uid(meta: Dataset, keyword: str, label: str) -> str:
    value = _uid_value(meta.get(keyword))
    if not value:
        raise IngestRejected(
            "bad_file_meta", f"The file meta information lacks the {label}, which PS3.10 requires."
        )
    if not _is_valid_uid(value):
        raise IngestRejected("bad_file_meta", f"The {label} in the file meta information is not a valid UID.")
    return value


def _check_meta_agrees(meta: Dataset, uids: dict[str, str]) -> None:
    # PS3.10 7.1: the Media Storage SOP Class/Instance UIDs repeat the data set's own identity.
    for meta_keyword, keyword, label in (
        ("MediaStorageSOPClassUID", "SOPClassUID", "SOP Class UID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID", "SOP Instance UID"),
    ):
        if _uid_value(meta.get(meta_keyword)) != uids[keyword]:
            raise IngestRejected(
                "meta_mismatch",
                f"The data set does not match its file meta information: the {label} differs from the "
                f"Media Storage {label}.",
            )


def _check_inflated_size(path: Path, meta: Dataset, limits: IngestLimits) -> None:
    """Inflate a Deflated Explicit VR Little Endian data set in a stream, counting, before pydicom does.

    pydicom inflates the whole data set at once, so a small file could expand into gigabytes (a deflate bomb).
    """
    group_length = meta.get("FileMetaInformationGroupLength")
    if not isinstance(group_length, int):
        raise IngestRejected(
            "bad_file_meta",
            "The file meta information lacks the File Meta Information Group Length (0002,0000), "
            "which PS3.10 requires.",
        )
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = 0
    chunk_size = 1024 * 1024
    with path.open("rb") as fp:
        fp.seek(_PREFIX_END + 12 + group_length)
        while chunk := fp.read(chunk_size):
            while chunk:
                try:
                    inflated += len(inflater.decompress(chunk, chunk_size))
                except zlib.error:
                    raise IngestRejected("corrupt", "The deflated data set is damaged.") from None
                if inflated > limits.max_inflated_bytes:
                    raise IngestRejected(
                        "too_large",
                        f"The deflated data set inflates to more than the {limits.max_inflated_bytes} "
                        "bytes allowed.",
                    )
                chunk = inflater.unconsumed_tail


# --- Identity (PS3.5 9.1) ----------------------------------------------------------------------------


def _uid_value(value: object) -> str:
    if value is None:
        return ""
    # UI values are padded to even length with NUL (PS3.5 6.2); some writers pad with a space.
    return str(value).rstrip("\0 ")


def _is_valid_uid(value: str) -> bool:
    return len(value) <= _UID_MAX_LENGTH and _UID_RE.fullmatch(value) is not None


def _required_uid(ds: Dataset, keyword: str, label: str) -> str:
    raw = ds.get(keyword)
    if isinstance(raw, MultiValue):
        raise IngestRejected("invalid_uid", f"The {label} has several values; it must have exactly one.")
    value = _uid_value(raw)
    if not value:
        raise IngestRejected(
            "missing_uid", f"The {label} is missing or empty; every stored object must have one."
        )
    if not _is_valid_uid(value):
        raise IngestRejected(
            "invalid_uid",
            f"The {label} is not a valid UID: PS3.5 9.1 allows at most 64 characters, digits and dots, "
            "and no leading zero in a component.",
        )
    return value


# --- Structure and pixel data ---------------------------------------------------------------------------


def _check_structure(ds: Dataset, max_depth: int) -> None:
    """Refuse short values and sequences nested deeper than `max_depth`, walking iteratively.

    pydicom parses defined-length sequences only when they are accessed (each access here parses one
    level), and it keeps a value cut short by the end of the file instead of failing.
    """
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        dataset, depth = stack.pop()
        for element in list(dataset.elements()):
            if isinstance(element, RawDataElement) and _is_short(element):
                raise _truncated("A data element's length runs past the end of the file.")
            if not _may_be_sequence(element):
                continue
            converted = dataset[element.tag]
            if converted.VR != "SQ":
                continue
            if depth + 1 > max_depth:
                raise IngestRejected(
                    "too_deep",
                    f"Sequences are nested more than {max_depth} levels deep, "
                    "more than any real object needs.",
                )
            stack.extend((item, depth + 1) for item in converted.value)


def _is_short(element: RawDataElement) -> bool:
    value = element.value
    return value is not None and element.length != 0xFFFFFFFF and len(value) < element.length


def _may_be_sequence(element: DataElement | RawDataElement) -> bool:
    if isinstance(element, DataElement):
        return element.VR == "SQ"
    if element.VR is not None:
        return element.VR in ("SQ", "UN")
    # Implicit VR: the dictionary knows public tags; private ones may hold a private sequence.
    try:
        return dictionary_VR(element.tag) in ("SQ", "UN")
    except KeyError:
        return True


def _check_pixel_budget(
    ds: Dataset, rows: int | None, columns: int | None, frames: int | None, limits: IngestLimits
) -> int | None:
    """The declared size of the pixel data in bytes, refused above the budget before anything decodes it."""
    if rows is None or columns is None:
        return None
    samples = _uint(ds, "SamplesPerPixel") or 1
    bits_allocated = _uint(ds, "BitsAllocated") or 1
    bits = prod((rows, columns, samples, frames or 1, bits_allocated))
    declared = (bits + 7) // 8
    if declared > limits.max_pixel_bytes:
        raise IngestRejected(
            "pixel_budget",
            f"The image declares more than the {limits.max_pixel_bytes} bytes of pixel data allowed "
            "(Rows x Columns x Samples per Pixel x Number of Frames x Bits Allocated / 8).",
        )
    return declared


def _check_pixel_data_in_file(
    fp: BinaryIO, position: int, size: int, transfer_syntax: str, expected: int | None
) -> None:
    """Check the pixel data element that reading stopped at fits in the file, without reading its value."""
    if position == size:
        return
    little = transfer_syntax != ExplicitVRBigEndian
    endian = "<" if little else ">"
    fp.seek(position)
    header = fp.read(8)
    if len(header) < 8:
        raise _truncated("The file ends in the middle of a data element header.")
    group, element = struct.unpack(f"{endian}HH", header[:4])
    tag = group << 16 | element
    name = _PIXEL_DATA_TAGS.get(tag)
    if name is None:
        # Reading stopped before the end for a reason other than pixel data (a stray delimiter).
        raise IngestRejected("corrupt", "The data set holds bytes that are not a valid data element.")
    if transfer_syntax == ImplicitVRLittleEndian:
        (length,) = struct.unpack("<L", header[4:])
    elif header[4:6].decode("latin-1") in EXPLICIT_VR_LENGTH_32:
        extra = fp.read(4)
        if len(extra) < 4:
            raise _truncated("The file ends in the middle of the pixel data header.")
        (length,) = struct.unpack(f"{endian}L", extra)
    else:
        (length,) = struct.unpack(f"{endian}H", header[6:])
    value_start = fp.tell()
    native = transfer_syntax in UncompressedTransferSyntaxes
    if length == 0xFFFFFFFF:
        if native:
            raise IngestRejected(
                "corrupt",
                f"The {name} has an undefined length, which only compressed transfer syntaxes allow.",
            )
        _walk_fragments(fp, value_start, size, name)
        return
    if value_start + length > size:
        raise _truncated(f"The {name} element is longer than the bytes left in the file.")
    if native and expected is not None and length < expected:
        raise _truncated(
            f"The {name} holds fewer bytes than Rows, Columns, Frames and Bits Allocated declare."
        )


def _walk_fragments(fp: BinaryIO, position: int, size: int, name: str) -> None:
    """Follow the items of encapsulated pixel data (PS3.5 A.4) by seeking, up to the sequence delimiter."""
    for _ in range(_MAX_FRAGMENTS):
        fp.seek(position)
        header = fp.read(8)
        if len(header) < 8:
            raise _truncated(f"The encapsulated {name} ends before its sequence delimiter.")
        group, element, length = struct.unpack("<HHL", header)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER_TAG:
            return
        if tag != _ITEM_TAG or length == 0xFFFFFFFF:
            raise IngestRejected("corrupt", f"The encapsulated {name} holds something other than fragments.")
        position += 8 + length
        if position > size:
            raise _truncated(f"A fragment of the encapsulated {name} runs past the end of the file.")
    raise IngestRejected("corrupt", f"The encapsulated {name} has more than {_MAX_FRAGMENTS} fragments.")


def _check_inflated_pixel_data(ds: Dataset, transfer_syntax: str, expected: int | None) -> None:
    """The same check for a deflated data set, whose (bounded) pixel bytes pydicom already holds."""
    if expected is None or transfer_syntax not in UncompressedTransferSyntaxes:
        return
    for tag, name in _PIXEL_DATA_TAGS.items():
        element = ds.get_item(tag)
        if element is not None and len(element.value or b"") < expected:
            raise _truncated(
                f"The {name} holds fewer bytes than Rows, Columns, Frames and Bits Allocated declare."
            )


def _truncated(reason: str) -> IngestRejected:
    return IngestRejected("truncated", reason)


# --- Index values ---------------------------------------------------------------------------------------


def _unknown_character_set(ds: Dataset) -> bool:
    charset = ds.get("SpecificCharacterSet")
    terms = charset if isinstance(charset, MultiValue) else [charset]
    return any(term and str(term).strip() not in python_encoding for term in terms)


def _text(ds: Dataset, keyword: str) -> str:
    """A string value decoded with the data set's character set, multiple values joined by backslash.

    Text is data: control characters, markup and bidi overrides are kept verbatim here and escaped
    where they are displayed (THREATS.md item 6).
    """
    value = ds.get(keyword)
    if value is None:
        return ""
    values = value if isinstance(value, MultiValue) else [value]
    text = "\\".join(_scalar_text(v) for v in values)
    return text.rstrip(" \0")[: _MAX_LENGTHS[keyword]]


def _scalar_text(value: object) -> str:
    if isinstance(value, PersonName):
        # All component groups (alphabetic=ideographic=phonetic), so a name sent only in ideographic
        # characters is not lost; empty trailing components and groups may be omitted (PS3.5 6.2.1).
        groups = (value.alphabetic, value.ideographic, value.phonetic)
        return "=".join(group.rstrip("^ ") for group in groups).rstrip("=")
    if isinstance(value, bytes):
        # An element pydicom could not give a text VR (e.g. VR UN): one byte per character, never failing.
        return value.decode("latin-1")
    return str(value)


def _date(ds: Dataset, keyword: str) -> datetime.date | None:
    value = ds.get(keyword)
    if isinstance(value, datetime.date):
        return value
    text = str(value or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _time(ds: Dataset, keyword: str) -> datetime.time | None:
    value = ds.get(keyword)
    if isinstance(value, datetime.time):
        return value
    # PS3.5 6.2 TM: HH[MM[SS[.F{1,6}]]]; older writers put colons between the parts.
    match = re.fullmatch(
        r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", str(value or "").strip().replace(":", "")
    )
    if match is None:
        return None
    hour, minute, second = (int(part or 0) for part in match.groups()[:3])
    micro = int((match.group(4) or "0").ljust(6, "0"))
    try:
        # A leap second (60) is valid DICOM but not a Python time.
        return datetime.time(hour, minute, min(second, 59), micro)
    except ValueError:
        return None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else None
    try:
        number = int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    # The index columns are 32-bit; IS allows -2**31 .. 2**31 - 1 (PS3.5 6.2).
    if number is None or not -(2**31) <= number < 2**31:
        return None
    return number


def _uint(ds: Dataset, keyword: str) -> int | None:
    number = _int(ds, keyword)
    return number if number is not None and number >= 0 else None


def _number_of_frames(ds: Dataset) -> int | None:
    frames = _int(ds, "NumberOfFrames")
    return frames if frames is not None and frames > 0 else None
