"""Synthetic CT for the benchmarks: no real patient, the same bytes on every run.

`generate(out_dir, instances=200, series=4)` writes one study of `instances` CT Image Storage objects
(512 x 512, 16 bits allocated, 12 stored, Explicit VR Little Endian) spread evenly over `series`
series, as PS3.10 files, and returns their paths. Every UID is a 2.25 UUID-derived UID computed from
a seed, so two runs (and the two systems compared) receive identical objects. The pixels are a
cylinder phantom with a fixed-seed noise field, so the files neither compress to nothing nor carry
anything from a person.

A corpus is many such studies, for query benchmarks: `generate_corpus` writes them as files and
`corpus_instances` yields them as bytes. Study k of a corpus has its own patient (two studies per
patient), with a name, birth date, sex and study date drawn from the corpus seed, so that queries by
name prefix or date range match some studies and not others. `corpus_study(seed, k)` and the UID
functions give the same values without building the objects (bench/palisade_index.py indexes them so).

Run alone: `python bench/synthetic.py OUT_DIR [--instances N] [--series S] [--study-size K]`.
"""

import argparse
import datetime
import hashlib
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

ROWS = COLUMNS = 512
DEFAULT_INSTANCES = 200
DEFAULT_SERIES = 4
DEFAULT_SEED = "palisade-bench-ct-v1"
STUDIES_PER_PATIENT = 2
# Study dates of a corpus fall in these ten years; a one-month range then matches about 1 study in 120.
FIRST_STUDY_DATE = datetime.date(2016, 1, 1)
STUDY_DATE_SPAN_DAYS = 3653
# fmt: off
FAMILY_NAMES = (
    "ABBOTT", "ALVAREZ", "BAKER", "BANERJEE", "BERG", "CARTER", "CHEN", "COSTA", "DUBOIS", "EVANS",
    "FISCHER", "GARCIA", "HANSEN", "HUBER", "IVANOV", "JANSEN", "KOWALSKI", "LARSEN", "LOPEZ", "MARTIN",
    "MEYER", "MORENO", "NAKAMURA", "NGUYEN", "NOVAK", "OKAFOR", "PATEL", "PETERS", "QUINN", "ROSSI",
    "SANTOS", "SCHMIDT", "SILVA", "TANAKA", "URBAN", "VARGA", "WAGNER", "WEBER", "YILMAZ", "ZIMMER",
)
GIVEN_NAMES = (
    "ADA", "ALEX", "ANNA", "BEN", "CARLA", "DAVID", "EMMA", "FELIX", "GRACE", "HUGO", "IDA", "JONAS",
    "KARIN", "LEO", "MAYA", "NILS", "OLGA", "PAUL", "RITA", "SAM", "TARA", "VIKTOR", "WANDA", "YUSUF",
)
# fmt: on


@dataclass(frozen=True)
class StudyDemographics:
    """The patient and study attributes of one synthetic study, as DICOM strings."""

    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_date: str
    study_time: str
    accession_number: str
    description: str


# The single study of `generate`, as run_ingest.py has always sent it.
PHANTOM = StudyDemographics(
    patient_id="BENCH-PHANTOM-1",
    patient_name="Bench^Phantom",
    birth_date="",
    sex="O",
    study_date="20260101",
    study_time="120000",
    accession_number="BENCH0001",
    description="Synthetic CT phantom (benchmark)",
)


def uid(seed: str, *parts: object) -> str:
    """A deterministic UID under the 2.25 root (PS3.5 B.2): the UUID form of a SHA-256 of the parts."""
    digest = hashlib.sha256("/".join([seed, *map(str, parts)]).encode()).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def study_uid(seed: str = DEFAULT_SEED) -> str:
    return uid(seed, "study")


def series_uid(seed: str, series_index: int) -> str:
    return uid(seed, "series", series_index)


def instance_uid(seed: str, index: int) -> str:
    return uid(seed, "instance", index)


def series_position(index: int, total: int, series_count: int) -> tuple[int, int]:
    """(series index, instance number in that series from 1) of instance `index` of a study of `total`
    instances spread evenly over `series_count` series."""
    series_index = index * series_count // total
    first_of_series = -(-series_index * total // series_count)  # ceil
    return series_index, index - first_of_series + 1


def corpus_seed(seed: str, study_index: int) -> str:
    """The seed of study `study_index` of the corpus `seed`: every UID of that study derives from it."""
    return f"{seed}/study-{study_index}"


def corpus_study(seed: str, study_index: int) -> StudyDemographics:
    """Patient and study attributes of study `study_index` of the corpus `seed`; the two studies of a
    patient share the patient's attributes and differ in date."""
    patient_index = study_index // STUDIES_PER_PATIENT
    person = random.Random(f"{seed}/patient-{patient_index}")  # noqa: S311 (test data, not secrets)
    family, given = person.choice(FAMILY_NAMES), person.choice(GIVEN_NAMES)
    birth = datetime.date(1930, 1, 1) + datetime.timedelta(days=person.randrange(80 * 365))
    sex = person.choice("FM")
    visit = random.Random(f"{seed}/study-{study_index}")  # noqa: S311 (seeded test data, not secrets)
    date = FIRST_STUDY_DATE + datetime.timedelta(days=visit.randrange(STUDY_DATE_SPAN_DAYS))
    return StudyDemographics(
        patient_id=f"{seed_tag(seed)}-{patient_index:06d}",
        patient_name=f"{family}^{given}",
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
        study_date=date.strftime("%Y%m%d"),
        study_time=f"{visit.randrange(7, 19):02d}{visit.randrange(60):02d}00",
        accession_number=f"A{study_index:07d}"[:16],
        description="Synthetic CT (benchmark)",
    )


def seed_tag(seed: str) -> str:
    """A short stable tag of a seed, so that the patient IDs of two corpora never collide."""
    return "P" + hashlib.sha256(seed.encode()).hexdigest()[:6].upper()


def _phantom(index: int, total: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """A water cylinder with two inserts, sliced along z, plus noise; values in HU + 1024 (0..4095).
    Drawn for 512 x 512 and scaled to `size`."""
    scale = size / ROWS
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / scale
    cy = cx = (ROWS - 1) / 2
    r2 = (x - cx) ** 2 + (y - cy) ** 2
    image = np.full((size, size), -1000.0, dtype=np.float32)  # air
    image[r2 < 220.0**2] = 0.0  # water
    z = index / max(total - 1, 1)
    insert_r = 30 + 25 * np.sin(np.pi * z)
    image[(x - cx - 90) ** 2 + (y - cy) ** 2 < insert_r**2] = 700.0  # bone-like
    image[(x - cx + 90) ** 2 + (y - cy) ** 2 < (55 - insert_r / 3) ** 2] = -500.0  # lung-like
    image += rng.normal(0.0, 12.0, size=image.shape).astype(np.float32)
    return np.clip(image + 1024.0, 0, 4095).astype(np.uint16)


def dataset_for(
    index: int,
    total: int,
    series_count: int,
    seed: str,
    rng: np.random.Generator,
    study: StudyDemographics = PHANTOM,
    size: int = ROWS,
) -> Dataset:
    """Instance `index` of the study `seed` of `total` instances in `series_count` series."""
    series_index, number_in_series = series_position(index, total, series_count)
    sop_uid = instance_uid(seed, index)

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
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = "Palisade synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.description
    ds.SeriesDescription = f"Phantom series {series_index + 1}"
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    ds.BodyPartExamined = "PHANTOM"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.StudyInstanceUID = study_uid(seed)
    ds.SeriesInstanceUID = series_uid(seed, series_index)
    ds.FrameOfReferenceUID = uid(seed, "frame-of-reference")
    ds.StudyID = "1"
    ds.SeriesNumber = series_index + 1
    ds.InstanceNumber = number_in_series
    ds.ImagePositionPatient = [-(size - 1) / 2, -(size - 1) / 2, float(number_in_series)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = float(number_in_series)
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.PixelSpacing = [ROWS / size, COLUMNS / size]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.InstanceCreationDate = study.study_date
    ds.PixelData = _phantom(index, total, rng, size).tobytes()
    ds["PixelData"].VR = "OW"
    return ds


def _rng(seed: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big"))


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
    rng = _rng(seed)
    paths = []
    for index in range(instances):
        path = out_dir / f"ct{index:05d}.dcm"
        dataset_for(index, instances, series, seed, rng).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@dataclass(frozen=True)
class Corpus:
    """`instances` instances in studies of `study_size` (the last one takes the rest), each study in
    up to `series_per_study` series, of `size` x `size` pixels."""

    seed: str
    instances: int
    study_size: int
    series_per_study: int
    size: int = ROWS

    def __post_init__(self) -> None:
        if self.instances < 1 or self.study_size < 1 or self.series_per_study < 1:
            raise ValueError("a corpus needs at least one instance, study size and series per study")

    @property
    def studies(self) -> int:
        return -(-self.instances // self.study_size)

    def study_instances(self, study_index: int) -> int:
        return min(self.study_size, self.instances - study_index * self.study_size)

    def study_series(self, study_index: int) -> int:
        return min(self.series_per_study, self.study_instances(study_index))

    def study_seed(self, study_index: int) -> str:
        return corpus_seed(self.seed, study_index)

    def study_uid(self, study_index: int) -> str:
        return study_uid(self.study_seed(study_index))

    def datasets(self, study_index: int) -> Iterator[Dataset]:
        seed = self.study_seed(study_index)
        total, series = self.study_instances(study_index), self.study_series(study_index)
        study, rng = corpus_study(self.seed, study_index), _rng(seed)
        for index in range(total):
            yield dataset_for(index, total, series, seed, rng, study, self.size)


def generate_corpus(out_dir: Path, corpus: Corpus) -> list[Path]:
    """Write every instance of the corpus under `out_dir` as PS3.10 files; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for study_index in range(corpus.studies):
        for index, dataset in enumerate(corpus.datasets(study_index)):
            path = out_dir / f"s{study_index:05d}-{index:05d}.dcm"
            dataset.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def corpus_instances(corpus: Corpus) -> Iterator[bytes]:
    """Every instance of the corpus as PS3.10 bytes, study by study, without touching the disk."""
    for study_index in range(corpus.studies):
        for dataset in corpus.datasets(study_index):
            buffer = io.BytesIO()
            dataset.save_as(buffer, enforce_file_format=True)
            yield buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES)
    parser.add_argument("--series", type=int, default=DEFAULT_SERIES)
    parser.add_argument("--seed", default=DEFAULT_SEED)
    parser.add_argument("--study-size", type=int, help="write a corpus of studies of this many instances")
    parser.add_argument("--pixels", type=int, default=ROWS, help="rows and columns of a corpus's images")
    args = parser.parse_args()
    started = datetime.datetime.now()
    if args.study_size:
        corpus = Corpus(args.seed, args.instances, args.study_size, args.series, args.pixels)
        paths = generate_corpus(args.out_dir, corpus)
        what = f"{corpus.studies} studies"
    else:
        paths = generate(args.out_dir, args.instances, args.series, args.seed)
        what = f"study {study_uid(args.seed)}"
    size = sum(p.stat().st_size for p in paths)
    elapsed = (datetime.datetime.now() - started).total_seconds()
    print(f"{len(paths)} instances, {size / 1e6:.1f} MB, {what} ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
