"""A synthetic CT study for the benchmarks: no real patient, the same bytes on every run.

`generate(out_dir, instances=200, series=4)` writes one study of `instances` CT Image Storage objects
(512 x 512, 16 bits allocated, 12 stored, Explicit VR Little Endian) spread evenly over `series`
series, as PS3.10 files, and returns their paths. Every UID is a 2.25 UUID-derived UID computed from
a seed, so two runs (and the two systems compared) receive identical objects. The pixels are a
cylinder phantom with a fixed-seed noise field, so the files neither compress to nothing nor carry
anything from a person.

Run alone: `python bench/synthetic.py OUT_DIR [--instances N] [--series S]`.
"""

import argparse
import datetime
import hashlib
import uuid
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

ROWS = COLUMNS = 512
DEFAULT_INSTANCES = 200
DEFAULT_SERIES = 4
DEFAULT_SEED = "palisade-bench-ct-v1"


def uid(seed: str, *parts: object) -> str:
    """A deterministic UID under the 2.25 root (PS3.5 B.2): the UUID form of a SHA-256 of the parts."""
    digest = hashlib.sha256("/".join([seed, *map(str, parts)]).encode()).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def study_uid(seed: str = DEFAULT_SEED) -> str:
    return uid(seed, "study")


def _phantom(index: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """A water cylinder with two inserts, sliced along z, plus noise; values in HU + 1024 (0..4095)."""
    y, x = np.mgrid[0:ROWS, 0:COLUMNS].astype(np.float32)
    cy = cx = (ROWS - 1) / 2
    r2 = (x - cx) ** 2 + (y - cy) ** 2
    image = np.full((ROWS, COLUMNS), -1000.0, dtype=np.float32)  # air
    image[r2 < 220.0**2] = 0.0  # water
    z = index / max(total - 1, 1)
    insert_r = 30 + 25 * np.sin(np.pi * z)
    image[(x - cx - 90) ** 2 + (y - cy) ** 2 < insert_r**2] = 700.0  # bone-like
    image[(x - cx + 90) ** 2 + (y - cy) ** 2 < (55 - insert_r / 3) ** 2] = -500.0  # lung-like
    image += rng.normal(0.0, 12.0, size=image.shape).astype(np.float32)
    return np.clip(image + 1024.0, 0, 4095).astype(np.uint16)


def dataset_for(index: int, total: int, series_count: int, seed: str, rng: np.random.Generator) -> Dataset:
    series_index = index * series_count // total
    first_of_series = -(-series_index * total // series_count)  # ceil
    number_in_series = index - first_of_series + 1
    sop_uid = uid(seed, "instance", index)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = "BENCH0001"
    ds.Modality = "CT"
    ds.Manufacturer = "Palisade synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic CT phantom (benchmark)"
    ds.SeriesDescription = f"Phantom series {series_index + 1}"
    ds.PatientName = "Bench^Phantom"
    ds.PatientID = "BENCH-PHANTOM-1"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "PHANTOM"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.StudyInstanceUID = study_uid(seed)
    ds.SeriesInstanceUID = uid(seed, "series", series_index)
    ds.FrameOfReferenceUID = uid(seed, "frame-of-reference")
    ds.StudyID = "1"
    ds.SeriesNumber = series_index + 1
    ds.InstanceNumber = number_in_series
    ds.ImagePositionPatient = [-255.5, -255.5, float(number_in_series)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = float(number_in_series)
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.PixelSpacing = [1.0, 1.0]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.InstanceCreationDate = "20260101"
    ds.PixelData = _phantom(index, total, rng).tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def generate(
    out_dir: Path,
    instances: int = DEFAULT_INSTANCES,
    series: int = DEFAULT_SERIES,
    seed: str = DEFAULT_SEED,
) -> list[Path]:
    """Write the study under `out_dir` and return the file paths in sending order."""
    if instances < 1 or not 1 <= series <= instances:
        raise ValueError("need at least one instance and 1 <= series <= instances")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))
    paths = []
    for index in range(instances):
        path = out_dir / f"ct{index:05d}.dcm"
        dataset_for(index, instances, series, seed, rng).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES)
    parser.add_argument("--series", type=int, default=DEFAULT_SERIES)
    parser.add_argument("--seed", default=DEFAULT_SEED)
    args = parser.parse_args()
    started = datetime.datetime.now()
    paths = generate(args.out_dir, args.instances, args.series, args.seed)
    size = sum(p.stat().st_size for p in paths)
    elapsed = (datetime.datetime.now() - started).total_seconds()
    print(f"{len(paths)} instances, {size / 1e6:.1f} MB, study {study_uid(args.seed)} ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
