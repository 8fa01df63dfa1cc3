"""A 300 MB multi-frame object is ingested and read back in bounded memory (receiver and worker)."""

import hashlib
import json
import os
import struct
import subprocess
import sys

import pytest
from django.db import connection
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.conftest import ROOT, database_url
from tests.memory_probe import rss_kib

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FRAMES, ROWS = 600, 512  # 600 frames of 512 x 512 x 16 bits: 300 MiB of pixel data
GROWTH_LIMIT_MIB = 200


def write_large_multiframe(path) -> str:
    """Write the file in streaming fashion (pydicom would hold the pixel data in memory); returns the
    SHA-256 of its bytes with the preamble zeroed, as Palisade stores it."""
    uid = generate_uid("2.25.")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR Image Storage
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid("2.25."), generate_uid("2.25.")
    ds.PatientID, ds.Modality = "SYN-LARGE", "MR"
    ds.Rows = ds.Columns = ROWS
    ds.NumberOfFrames = FRAMES
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.save_as(path, enforce_file_format=True)
    frame = os.urandom(ROWS * ROWS * 2)
    digest = hashlib.sha256(path.read_bytes())
    with path.open("ab") as fp:
        element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, FRAMES * len(frame))
        fp.write(element)
        digest.update(element)
        for _ in range(FRAMES):
            fp.write(frame)
            digest.update(frame)
    return digest.hexdigest()


def test_a_300_mb_object_is_ingested_and_read_back_within_the_memory_budget(
    celery_worker_process, tenant, tmp_path
):
    expected_sha256 = write_large_multiframe(tmp_path / "large.dcm")
    worker_pid = str(celery_worker_process.process.pid)
    worker_baseline = rss_kib("VmRSS", worker_pid)

    probe = subprocess.run(
        [sys.executable, "-m", "tests.memory_probe", tenant.slug, str(tmp_path / "large.dcm")],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(connection.settings_dict)},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    print(f"receiver peak RSS growth {result['growth_mib']:.1f} MiB")
    assert result["state"] == "stored"
    assert result["sha256"] == expected_sha256
    assert result["growth_mib"] < GROWTH_LIMIT_MIB
    assert (rss_kib("VmHWM", worker_pid) - worker_baseline) / 1024 < GROWTH_LIMIT_MIB
