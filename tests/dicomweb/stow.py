"""Building STOW-RS requests by hand, for the cases a DICOMweb client would never send."""

from pathlib import Path

from django.urls import reverse

from tests.ingest.samples import SAMPLES
from tests.ingest.test_samples import ACCEPT, EXPECTED

BOUNDARY = "palisade-test-boundary"
VALID_SAMPLES = sorted(name for name, outcome in EXPECTED.items() if outcome == ACCEPT)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def related_body(
    parts: list[bytes], *, boundary: str = BOUNDARY, part_type: str | None = "application/dicom"
):
    """A multipart/related body, one part per item of `parts`, each with `part_type` (None: no header)."""
    chunks = []
    for part in parts:
        headers = f"Content-Type: {part_type}\r\n" if part_type else ""
        chunks.append(f"--{boundary}\r\n{headers}\r\n".encode() + part + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def related_type(boundary: str = BOUNDARY, *, quoted: bool = True) -> str:
    if quoted:
        return f'multipart/related; type="application/dicom"; boundary="{boundary}"'
    return f"multipart/related; type=application/dicom; boundary={boundary}"


def stow_url(tenant_slug: str, study_uid: str | None = None) -> str:
    if study_uid is None:
        return reverse("dicomweb-stow", args=[tenant_slug])
    return reverse("dicomweb-stow-study", args=[tenant_slug, study_uid])


def post(client, url: str, body: bytes, *, content_type: str | None = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        url, data=body, content_type=related_type() if content_type is None else content_type, headers=headers
    )


def sequence(payload: dict, tag: str) -> list[dict]:
    return payload.get(tag, {}).get("Value", [])


def value(item: dict, tag: str):
    values = item[tag].get("Value", [])
    return values[0] if values else None


def no_parts_left(var_dir: Path) -> bool:
    """Parts are plaintext DICOM: none may outlive its request."""
    return not any((var_dir / "scratch").glob("stow-*"))
