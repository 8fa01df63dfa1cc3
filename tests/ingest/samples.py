"""Where the shared DICOM sample corpus lives: $PALISADE_DICOM_SAMPLES, else ../shared/dicom-samples."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def samples_dir() -> Path:
    configured = os.environ.get("PALISADE_DICOM_SAMPLES")
    return Path(configured) if configured else REPO.parent / "shared" / "dicom-samples"


SAMPLES = samples_dir()


def sample_files() -> list[Path]:
    """Every sample in the corpus (the manifest excluded), sorted by name."""
    return sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.name != "MANIFEST.tsv")
