"""Where an export's de-identified files go: the project's destination kind (ResearchProject.Destination).

Each destination takes the files of one study (`add`, then `end_study`) and is closed once (`finish`).
Files arrive as paths in the export's private scratch folder, so a study of any size is held on disk,
not in memory. What a destination refused is counted in `refused` by a reason that names no patient.
OSError (storage full or unreachable, a DICOMweb archive that does not answer) propagates: the task
tries again later. DestinationRefused ends the export: retrying would not help.
"""

import os
import secrets
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import requests
from pydicom import Dataset

from audit.alerts.delivery import WebhookFailed, WebhookRefused, check_destination
from imaging.crypto.keys import KEY_BYTES
from imaging.crypto.segments import encrypt_stream
from imaging.ingest.receive import Upload, receive_files
from imaging.models import IngestJob
from imaging.research import sealing
from imaging.research.models import ResearchExport, ResearchProject
from imaging.storage import durable_writer
from portal.agreements.services import AgreementMissing, assert_may_ingest
from portal.tenancy import tenant_scope

# What each sealed value is, bound into its associated data (imaging.research.sealing).
ARCHIVE_KEY = "archive key"
STOW_TOKEN = "stow token"  # noqa: S105 (a label, not a token)
# Connect, then read: a STOW-RS archive may take a while to answer for a large study.
STOW_TIMEOUT = (10, 600)


class DestinationRefused(Exception):
    """The destination will not take the export (its address or token is refused); say why."""


class DestinationUnavailable(OSError):
    """The destination did not answer, or answered that it cannot now: worth trying again later."""


class Destination:
    def __init__(self) -> None:
        self.refused: Counter[str] = Counter()
        self._study: list[Path] = []

    def add(self, path: Path) -> None:
        self._study.append(path)

    def end_study(self) -> None:
        if self._study:
            self.deliver(self._study)
        for path in self._study:
            path.unlink(missing_ok=True)
        self._study = []

    def deliver(self, paths: list[Path]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """After the last study."""


class ZipArchive(Destination):
    """A ZIP of every file, named by position (no DICOM value in a name), stored encrypted under a
    random data key sealed by the clinic's key, as study downloads store theirs."""

    def __init__(self, export: ResearchExport, scratch: Path) -> None:
        super().__init__()
        self.export = export
        # In the export's scratch folder, which the export removes whatever happens.
        self._path = scratch / "export.zip"
        self._zip = zipfile.ZipFile(self._path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._studies = 0
        self._files = 0

    def deliver(self, paths: list[Path]) -> None:
        self._studies += 1
        for path in paths:
            self._files += 1
            self._zip.write(path, f"ST{self._studies:05d}/IM{self._files:07d}.dcm")

    def finish(self) -> None:
        self._zip.close()
        export = self.export
        data_key = os.urandom(KEY_BYTES)
        export.region = export.tenant.home_region
        export.storage_name = f"{export.tenant_id}/research/{export.pk.hex}"
        with self._path.open("rb") as archive, durable_writer(export.region, export.storage_name) as sink:
            digest = encrypt_stream(
                data_key, archive, sink, tenant_id=export.tenant_id, object_id=str(export.pk)
            )
        self._path.unlink()
        export.archive_key_sealed = sealing.seal(
            export.tenant, data_key, row_id=export.pk, purpose=ARCHIVE_KEY
        )
        export.archive_size = digest.plaintext_size


class Folder(Destination):
    """A folder of the operator's choosing (the `deidentify` command): a sub-folder per study, files
    named by position only."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out
        self._studies = 0

    def deliver(self, paths: list[Path]) -> None:
        self._studies += 1
        study = self.out / f"ST{self._studies:05d}"
        study.mkdir()
        for number, path in enumerate(paths, start=1):
            path.rename(study / f"IM{number:07d}.dcm")


class OtherClinic(Destination):
    """Another clinic of the platform, through its normal ingestion (imaging.ingest.receive): the objects
    are encrypted under that clinic's keys, indexed by its workers, and seen only by its members."""

    def __init__(self, export: ResearchExport) -> None:
        super().__init__()
        self.export = export
        self.target = export.project.destination_tenant
        if self.target is None or self.target.pk == export.tenant_id or not self.target.is_active:
            raise DestinationRefused("The project's destination clinic is missing or not another clinic.")

    def deliver(self, paths: list[Path]) -> None:
        # Identifiers of the sending export only: the receiving clinic's trail says where they came from.
        origin = {"research_export": str(self.export.pk), "from_tenant": self.export.tenant.slug}
        try:
            # De-identified is not anonymous (GDPR recital 26): the receiving clinic needs its agreements
            # in force as for any other ingestion.
            assert_may_ingest(self.target, channel="research_export", origin=origin)
        except AgreementMissing as missing:
            raise DestinationRefused(str(missing)) from None
        with tenant_scope(self.target):
            jobs = receive_files(
                self.target,
                [Upload(path, f"research-{number:06d}.dcm") for number, path in enumerate(paths, start=1)],
                source=IngestJob.Source.IMPORT,
                origin=origin,
            )
        for job in jobs:
            if job.state == IngestJob.State.REJECTED:
                self.refused[f"refused by the destination clinic: {job.error_reason}"] += 1


class DicomwebArchive(Destination):
    """A STOW-RS request per study (PS3.18 10.5) to the project's URL, with its bearer token if any.
    The body is written to a file first, so that it goes with a Content-Length (some servers, WSGI ones
    among them, refuse chunked bodies) in bounded memory."""

    def __init__(self, export: ResearchExport, scratch: Path) -> None:
        super().__init__()
        project = export.project
        self.url = project.stow_url
        self.scratch = scratch
        self.token = stow_token(project)
        if not self.url:
            raise DestinationRefused("The project has no STOW-RS address.")

    def deliver(self, paths: list[Path]) -> None:
        try:
            check_destination(self.url, trusted=False)
        except WebhookRefused as refusal:
            raise DestinationRefused(f"The STOW-RS address is refused: {refusal}.") from None
        except WebhookFailed as failure:
            raise DestinationUnavailable(str(failure)) from None
        boundary = secrets.token_hex(16)
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with tempfile.TemporaryFile(prefix="palisade-stow-", dir=self.scratch) as body:
            _write_multipart(body, paths, boundary)
            body.seek(0)
            try:
                response = requests.post(self.url, data=body, headers=headers, timeout=STOW_TIMEOUT)
            except requests.RequestException as failure:
                raise DestinationUnavailable(
                    f"The DICOMweb archive did not answer ({type(failure).__name__})."
                ) from None
        self._count_failures(response, len(paths))

    def _count_failures(self, response: requests.Response, sent: int) -> None:
        # PS3.18 10.5.3: 200 all stored, 202 some failed, 409 none stored; the body lists the failures.
        if response.status_code == 200:
            return
        if response.status_code in (202, 409):
            failed = _failed_sops(response)
            for reason in failed:
                self.refused[f"refused by the DICOMweb archive (failure reason {reason})"] += 1
            if response.status_code == 409 and not failed:
                self.refused["refused by the DICOMweb archive (HTTP 409)"] += sent
            return
        if response.status_code >= 500 or response.status_code == 429:
            raise DestinationUnavailable(f"The DICOMweb archive answered HTTP {response.status_code}.")
        raise DestinationRefused(f"The DICOMweb archive answered HTTP {response.status_code}.")


def open_destination(export: ResearchExport, scratch: Path) -> Destination:
    kind = export.project.destination
    if kind == ResearchProject.Destination.TENANT:
        return OtherClinic(export)
    if kind == ResearchProject.Destination.DICOMWEB:
        return DicomwebArchive(export, scratch)
    return ZipArchive(export, scratch)


def stow_token(project: ResearchProject) -> str:
    if not project.stow_token_sealed:
        return ""
    sealed = bytes(project.stow_token_sealed)
    return sealing.unseal(project.tenant_id, sealed, row_id=project.pk, purpose=STOW_TOKEN).decode()


def _write_multipart(body: BinaryIO, paths: list[Path], boundary: str) -> None:
    for path in paths:
        body.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        with path.open("rb") as part:
            while chunk := part.read(1 << 20):
                body.write(chunk)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())


def _failed_sops(response: requests.Response) -> list[str]:
    try:
        answer = Dataset.from_json(response.json())
    except ValueError:
        return []
    return [f"{int(item.get('FailureReason', 0)):#06x}" for item in answer.get("FailedSOPSequence", [])]
