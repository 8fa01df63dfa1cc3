"""Helpers of the WADO-RS tests: ingest samples, read multipart answers."""

import re

import pydicom

from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest

ALL_SYNTAXES = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def ingest_sample(tenant, name: str) -> pydicom.Dataset:
    """Ingest (receive and index) one sample; its header, for the UIDs."""
    job = ingest(tenant, SAMPLES / name)
    assert job.state == "stored", job.error_reason
    return pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)


def instance_path(tenant, ds: pydicom.Dataset, suffix: str = "") -> str:
    return (
        f"/dicomweb/{tenant.slug}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}{suffix}"
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def parts(response) -> list[tuple[str, bytes]]:
    """(Content-Type, content) of each part of a multipart/related answer."""
    boundary = re.search(r"boundary=([^;\s]+)", response["Content-Type"]).group(1).encode()
    found = []
    for chunk in body(response).split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        headers, _, content = chunk[2:].partition(b"\r\n\r\n")
        content_type = re.search(rb"Content-Type: ([^\r\n]+)", headers).group(1).decode()
        found.append((content_type, content[:-2]))
    return found
