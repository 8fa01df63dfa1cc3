"""Writing a study's objects into a ZIP, one object at a time, in bounded memory.

Nothing here reads the database: callers pass each stored object with its data key (RequestKeys).

DICOM: a File-set (PS3.10 section 8, PS3.11 Annex D) laid out by pydicom's FileSet, the layout CD
viewers and OsiriX/Horos expect (`DICOMDIR` at the root, `PT000000/ST000000/SE000000/IM000000`). The
DICOMDIR is made from each instance's header only (the records hold no pixel data): the File-set is
written once with header-only copies to a temporary folder, which gives the DICOMDIR and each
instance's file ID; the archive then holds that DICOMDIR and, under each file ID, the instance's
stored bytes streamed segment by segment. Instances pydicom has no directory record for (an unknown
SOP class) still go in, under `OTHER/`, outside the DICOMDIR.

JPEG: one image per frame, rendered as WADO-RS /rendered renders it (imaging.rendering, the instance's
own VOI LUT or window); objects without an image are left out.
"""

import logging
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread
from pydicom.fileset import FileSet

from imaging.models import StoredObject
from imaging.objects import open_plaintext, plaintext_chunks
from imaging.rendering import RenderingError, render_image

log = logging.getLogger(__name__)

Keyed = list[tuple[StoredObject, bytes]]
Progress = Callable[[], None]


def write_dicom_zip(keyed: Keyed, sink: BinaryIO, on_instance: Progress) -> None:
    """The File-set of `keyed` as a ZIP into `sink`. Stored, not deflated: DICOM pixel data is mostly
    compressed already, and the receiving software reads it as it is."""
    with tempfile.TemporaryDirectory(prefix="palisade-fileset-") as staging:
        dicomdir, file_ids = _file_set(keyed, Path(staging))
        with _zip(sink, zipfile.ZIP_STORED) as archive:
            if dicomdir is not None:
                archive.write(dicomdir, "DICOMDIR")
            for number, (stored, data_key) in enumerate(keyed):
                name = file_ids.get(stored.instance.sop_instance_uid) or f"OTHER/IM{number:06d}"
                with archive.open(name, "w", force_zip64=True) as member:
                    for chunk in plaintext_chunks(stored, data_key=data_key):
                        member.write(chunk)
                on_instance()


def write_jpeg_zip(keyed: Keyed, sink: BinaryIO, on_instance: Progress) -> None:
    """A JPEG of each frame of each instance with an image, named by position (no PHI in names)."""
    series_numbers: dict[int, int] = {}
    with _zip(sink, zipfile.ZIP_STORED) as archive:
        for number, (stored, data_key) in enumerate(keyed, start=1):
            series = series_numbers.setdefault(stored.instance.series_id, len(series_numbers) + 1)
            for frame, image in _rendered_frames(stored, data_key):
                archive.writestr(f"S{series:03d}/IM{number:05d}-F{frame + 1:04d}.jpg", image)
            on_instance()


def write_deidentified_zip(
    keyed: Keyed,
    sink: BinaryIO,
    on_instance: Progress,
    deidentified: Callable[[StoredObject, bytes], bytes | None],
) -> None:
    """Each object as `deidentified` rewrites it (None: refused, left out), named by position only. No
    DICOMDIR: its records would repeat attributes the de-identification has to vet first."""
    with _zip(sink, zipfile.ZIP_STORED) as archive:
        for number, (stored, data_key) in enumerate(keyed, start=1):
            data = deidentified(stored, data_key)
            if data is not None:
                archive.writestr(f"IM{number:06d}.dcm", data)
            on_instance()


def _file_set(keyed: Keyed, staging: Path) -> tuple[Path | None, dict[str, str]]:
    """Write the File-set of header-only copies under `staging`: its DICOMDIR and each SOP Instance
    UID's file ID ('/'-separated), as pydicom laid them out."""
    file_set = FileSet()
    added = 0
    for stored, data_key in keyed:
        with open_plaintext(stored, data_key=data_key) as plaintext:
            header = dcmread(plaintext, stop_before_pixels=True)
        try:
            file_set.add(header)
        except ValueError as refusal:  # no directory record for this SOP class, or a Type 1 value missing
            log.info("Download File-set leaves stored object %s out of the DICOMDIR: %s", stored.pk, refusal)
            continue
        added += 1
    if not added:
        return None, {}
    root = staging / "fileset"
    file_set.write(root)
    root = root.resolve()
    file_ids = {
        instance.SOPInstanceUID: "/".join(Path(instance.path).resolve().relative_to(root).parts)
        for instance in file_set
    }
    return root / "DICOMDIR", file_ids


def _rendered_frames(stored: StoredObject, data_key: bytes) -> Iterator[tuple[int, bytes]]:
    with open_plaintext(stored, data_key=data_key) as plaintext:
        header = dcmread(plaintext, stop_before_pixels=True)
        if "Rows" not in header:
            return
        try:
            frames = max(int(header.get("NumberOfFrames") or 1), 1)
        except (TypeError, ValueError):
            frames = 1
        for frame in range(frames):
            plaintext.seek(0)
            try:
                yield frame, render_image(plaintext, frame=frame, image_format="JPEG")
            except RenderingError as failure:
                log.info("JPEG download left out stored object %s: %s", stored.pk, failure)
                return


@contextmanager
def _zip(sink: BinaryIO, compression: int) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(sink, "w", compression=compression, allowZip64=True) as archive:
        yield archive
