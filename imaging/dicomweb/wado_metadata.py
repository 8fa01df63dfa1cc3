"""Retrieve Metadata (PS3.18 10.4.1.1.2): each instance in the DICOM JSON model (PS3.18 F.2).

Top-level binary values above BULK_DATA_THRESHOLD bytes are not loaded: pydicom defers them, and the
JSON carries a BulkDataURI (PS3.18 F.2.6) to this instance's `bulkdata/{tag}` resource instead. Binary
values inside sequences are small and go inline (InlineBinary).
"""

from typing import BinaryIO

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

BULK_DATA_THRESHOLD = 1024
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
PIXEL_DATA_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}


class MetadataUnavailable(Exception):
    """The stored object cannot be parsed."""


def instance_metadata(plaintext: BinaryIO, bulkdata_url: str) -> dict:
    """The DICOM JSON object of one instance; `bulkdata_url` is its `.../bulkdata` URL."""
    try:
        dataset = dcmread(plaintext, defer_size=BULK_DATA_THRESHOLD)
        bulk = {}
        for tag in list(dataset.keys()):
            element = dataset.get_item(tag, keep_deferred=True)
            vr = _vr(element, dataset)
            length = element.length if isinstance(element, RawDataElement) else len(element.value or b"")
            if vr in _BINARY_VRS and (length > BULK_DATA_THRESHOLD or tag in PIXEL_DATA_TAGS):
                bulk[f"{int(tag):08X}"] = {"vr": vr, "BulkDataURI": f"{bulkdata_url}/{int(tag):08X}"}
                del dataset[tag]
        body = dataset.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD)
    except Exception as exc:  # any parser failure on stored bytes is "cannot read", not a crash
        raise MetadataUnavailable(f"The stored object cannot be read ({type(exc).__name__}).") from None
    body.update(bulk)
    return dict(sorted(body.items()))


def _vr(element, dataset) -> str:
    if element.VR:
        return str(element.VR)
    try:
        vr = dictionary_VR(Tag(element.tag))
    except KeyError:
        return "UN"
    if vr == "OB or OW":
        # Implicit VR Little Endian native pixel data: OW above 8 bits allocated (PS3.5 A.1).
        return "OW" if int(dataset.get("BitsAllocated") or 8) > 8 else "OB"
    return vr.split(" or ")[0]


def bulk_value_range(plaintext: BinaryIO, tag: int) -> tuple[int, int]:
    """(offset, length) in the plaintext of the top-level value `tag`, for a defined-length value.
    Raises KeyError when the instance has no such value or it is not addressable by offset."""
    try:
        dataset = dcmread(plaintext, defer_size=BULK_DATA_THRESHOLD)
    except Exception as exc:  # any parser failure on stored bytes
        raise MetadataUnavailable(f"The stored object cannot be read ({type(exc).__name__}).") from None
    if dataset.file_meta.TransferSyntaxUID.is_deflated:
        raise KeyError(tag)
    element = dataset.get_item(tag, keep_deferred=True)
    if not isinstance(element, RawDataElement) or element.length == 0xFFFFFFFF:
        raise KeyError(tag)
    return element.value_tell, element.length
