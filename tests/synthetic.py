"""Synthetic CT series for pipeline tests: valid, small, and free of any real person's data."""

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_ct_series(folder: Path, count: int, *, rows: int = 32, prefix: str = "2.25.") -> list[Path]:
    """`count` CT instances of one new study and series in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid = generate_uid(prefix), generate_uid(prefix)
    paths = []
    for number in range(1, count + 1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(prefix)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.PatientName, ds.PatientID = "Synthetic^Phantom", "SYN-0001"
        ds.Modality, ds.InstanceNumber, ds.SeriesNumber = "CT", number, 1
        ds.Rows = ds.Columns = rows
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = number.to_bytes(2, "little") * (rows * rows)
        path = folder / f"ct-{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
