"""Hostile and well-formed DICOM files, built with pydicom (or by hand where pydicom refuses)."""

import struct
from pathlib import Path

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

SOP_INSTANCE_UID = "1.2.826.0.1.3680043.8.498.1"
STUDY_UID = "1.2.826.0.1.3680043.8.498.2"
SERIES_UID = "1.2.826.0.1.3680043.8.498.3"


def minimal_dataset(**attributes: object) -> Dataset:
    """A small valid CT instance (4 x 4, 16 bits), with `attributes` set or overridden."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_INSTANCE_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_INSTANCE_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.PatientName = "Test^Patient"
    ds.PatientID = "TEST-1"
    ds.Modality = "CT"
    ds.Rows = 4
    ds.Columns = 4
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def write(ds: Dataset, path: Path, *, keep_meta: bool = False) -> Path:
    """Write `ds` as a PS3.10 file; with `keep_meta`, its file meta as given, even if it disagrees."""
    if keep_meta:
        FileDataset(path, ds, file_meta=ds.file_meta, preamble=bytes(128)).save_as(
            path, enforce_file_format=False
        )
    else:
        ds.save_as(path, enforce_file_format=True)
    return path


def write_minimal(path: Path, **attributes: object) -> Path:
    return write(minimal_dataset(**attributes), path)


def nested_sequence(depth: int, *, defined_length: bool) -> bytes:
    """Content Sequence (0040,A730) nested `depth` levels deep, Explicit VR Little Endian.

    Built by hand: pydicom's writer recurses per level and could not write it.
    """
    body = b""
    for _ in range(depth):
        if defined_length:
            item = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
            body = struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, len(item)) + item
        else:
            item = (
                struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
                + body
                + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
            )
            body = (
                struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
                + item
                + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
            )
    return body
