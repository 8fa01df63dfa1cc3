"""Extract the files of an uploaded ZIP one at a time, refusing archives built to attack the extractor.

THREATS.md item 8: zip-slip names, absolute paths, symlinks, nested and overlapping-entry bombs, too many
entries, too many bytes, and a DICOMDIR whose Referenced File IDs traverse.

Choices made here:
- The whole archive is refused at the first unsafe entry: an archive with a "../" name or a symlink was
  made by an attacker or a broken tool, and half-importing it helps nobody.
- Entry names are never used as paths: each member is written to a file name generated here, inside
  `workdir`. The (sanitised) entry name is only returned for messages to the uploader; it may hold PHI
  (folders named after patients are common), so it belongs in the uploader's view, not in logs.
- A ZIP inside the ZIP is not opened (nesting depth 1): it is extracted like any member and then fails
  to parse as DICOM, with its own reason.
- A DICOMDIR is skipped unread: it is an index, not an instance, and its Referenced File IDs are never
  followed; every other member is offered to the DICOM parser anyway.
- Headers are checked first (names, types, counts, declared sizes, overlapping ranges) so a bad archive
  is refused before anything is written; sizes are then counted again while copying, since headers lie.
"""

import os
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imaging.ingest.errors import IngestRejected
from imaging.ingest.limits import IngestLimits

_CHUNK = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4sHHHHHLLLHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
# The End Of Central Directory record is 22 bytes plus a comment of at most 65535 bytes.
_EOCD_SEARCH = 22 + 65535
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_MAX_DISPLAY_NAME = 200


@dataclass(frozen=True)
class ArchiveMember:
    # The entry's name for messages to the uploader: control and bidi characters removed, shortened.
    display_name: str
    # Where the member's bytes were written: a server-generated name inside workdir.
    path: Path
    size_bytes: int


def iter_archive_members(
    zip_path: Path, workdir: Path, *, limits: IngestLimits | None = None
) -> Iterator[ArchiveMember]:
    """Extract the regular files of the ZIP at `zip_path` into `workdir`, yielding them one at a time.

    Raises IngestRejected for an unreadable or unsafe archive, possibly after some members were yielded;
    the caller owns `workdir` and removes what it no longer needs (members already yielded included).
    """
    limits = limits or IngestLimits.from_settings()
    _check_declared_entry_count(zip_path, limits)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, struct.error, ValueError, OSError):
        raise IngestRejected("not_zip", "The file is not a readable ZIP archive.") from None
    with archive:
        members = _checked_members(archive, zip_path, limits)
        total = 0
        for info in members:
            path, written = _extract(archive, info, workdir, limits, total)
            total += written
            yield ArchiveMember(display_name=_display_name(info.filename), path=path, size_bytes=written)


def _check_declared_entry_count(zip_path: Path, limits: IngestLimits) -> None:
    """Refuse an archive whose end record declares too many entries, before zipfile loads them all."""
    size = zip_path.stat().st_size
    with zip_path.open("rb") as fp:
        fp.seek(max(0, size - _EOCD_SEARCH))
        tail = fp.read()
        at = tail.rfind(_EOCD_SIGNATURE)
        if at < 0 or len(tail) - at < 22:
            raise IngestRejected(
                "not_zip", "The file is not a ZIP archive: it has no end of central directory."
            )
        (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
        locator = tail[at - 20 : at] if at >= 20 else b""
        if entries == 0xFFFF and locator[:4] == _ZIP64_LOCATOR_SIGNATURE:
            (zip64_offset,) = struct.unpack("<Q", locator[8:16])
            fp.seek(zip64_offset)
            record = fp.read(56)
            if len(record) < 56 or record[:4] != _ZIP64_EOCD_SIGNATURE:
                raise IngestRejected("not_zip", "The ZIP64 end of central directory record is damaged.")
            (entries,) = struct.unpack("<Q", record[32:40])
    if entries > limits.max_zip_entries:
        raise IngestRejected(
            "archive_too_large",
            f"The archive has more than the {limits.max_zip_entries} entries allowed; "
            "split it into smaller ones.",
        )


def _checked_members(archive: zipfile.ZipFile, zip_path: Path, limits: IngestLimits) -> list[zipfile.ZipInfo]:
    """The entries to extract, after refusing the archive if any entry is unsafe."""
    infos = archive.infolist()
    if len(infos) > limits.max_zip_entries:
        raise IngestRejected(
            "archive_too_large",
            f"The archive has more than the {limits.max_zip_entries} entries allowed; "
            "split it into smaller ones.",
        )
    members = []
    declared_total = 0
    for info in infos:
        _check_name(info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise _unsafe(info, "is a symbolic link, which could point outside the upload")
        if info.is_dir() or kind == stat.S_IFDIR:
            continue
        if kind not in (0, stat.S_IFREG):
            raise _unsafe(info, "is a special file (device, pipe or socket), not a regular file")
        if info.flag_bits & 0x1:
            raise IngestRejected(
                "unsupported_archive",
                f"The entry '{_display_name(info.filename)}' is encrypted; "
                "upload an archive without a password.",
            )
        if info.compress_type not in _SUPPORTED_METHODS:
            raise IngestRejected(
                "unsupported_archive",
                f"The entry '{_display_name(info.filename)}' uses a compression method this portal cannot "
                "read; create the ZIP again with the standard Deflate method.",
            )
        declared_total += info.file_size
        if declared_total > limits.max_zip_bytes:
            raise _too_many_bytes(limits)
        _check_ratio(info, info.file_size, limits)
        if _is_skipped(info.filename):
            continue
        members.append(info)
    _check_no_overlap(infos, zip_path)
    return members


def _check_name(name: str) -> None:
    # Zip-slip (CVE-2018-1002200 and kin): a name that is absolute, has a drive letter or a backslash
    # (a Windows separator), or climbs with "..", would escape the target folder if it were used as a path.
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or (len(name) >= 2 and name[1] == ":")
        or ".." in parts
    ):
        raise IngestRejected(
            "unsafe_archive",
            f"The archive is refused: the entry name '{_display_name(name)}' is empty or points outside "
            "the archive (an absolute path, a drive letter, a backslash or '..').",
        )


def _is_skipped(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    # DICOMDIR: an index of the files, not an instance (PS3.10 8); macOS resource forks: not user files.
    return base.upper() == "DICOMDIR" or name.startswith("__MACOSX/")


def _check_ratio(info: zipfile.ZipInfo, uncompressed: int, limits: IngestLimits) -> None:
    if uncompressed > limits.ratio_floor_bytes and uncompressed > limits.max_zip_ratio * max(
        info.compress_size, 1
    ):
        raise IngestRejected(
            "archive_too_large",
            f"The entry '{_display_name(info.filename)}' expands more than {limits.max_zip_ratio} times, "
            "which is how ZIP bombs are built; the archive is refused.",
        )


def _check_no_overlap(infos: list[zipfile.ZipInfo], zip_path: Path) -> None:
    """Refuse entries whose data overlaps another's: the trick of non-recursive ZIP bombs.

    Each entry's range runs from its local header to the end of its compressed data; sizes come from the
    local header's own name and extra lengths, which may differ from the central directory's.
    """
    ranges = []
    with zip_path.open("rb") as fp:
        for info in infos:
            fp.seek(info.header_offset)
            header = fp.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
                raise _unsafe(info, "has a damaged or missing local header")
            name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
            end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
            ranges.append((info.header_offset, end, info))
    ranges.sort(key=lambda entry: entry[0])
    previous_end = 0
    for start, end, info in ranges:
        if start < previous_end:
            raise _unsafe(info, "overlaps another entry's data, a trick used by ZIP bombs")
        previous_end = end


def _extract(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, workdir: Path, limits: IngestLimits, total_before: int
) -> tuple[Path, int]:
    # mkstemp: a fresh name, created exclusively (mode 0600): nothing in workdir is overwritten or followed.
    handle, name = tempfile.mkstemp(prefix="member-", suffix=".bin", dir=workdir)
    path = Path(name)
    written = 0
    try:
        with os.fdopen(handle, "wb") as out, archive.open(info) as source:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                # Counted while copying: the sizes in the headers were checked above but may lie.
                if total_before + written > limits.max_zip_bytes:
                    raise _too_many_bytes(limits)
                _check_ratio(info, written, limits)
                out.write(chunk)
    except IngestRejected:
        path.unlink(missing_ok=True)
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError):
        # zipfile signals a CRC mismatch, a damaged stream or a bad header with these.
        path.unlink(missing_ok=True)
        raise _unsafe(info, "is damaged (its data does not match its header or checksum)") from None
    return path, written


def _unsafe(info: zipfile.ZipInfo, problem: str) -> IngestRejected:
    return IngestRejected(
        "unsafe_archive", f"The archive is refused: the entry '{_display_name(info.filename)}' {problem}."
    )


def _too_many_bytes(limits: IngestLimits) -> IngestRejected:
    return IngestRejected(
        "archive_too_large",
        f"The archive expands to more than the {limits.max_zip_bytes} bytes allowed; "
        "split it into smaller ones.",
    )


def _display_name(name: str) -> str:
    # Control characters (CR/LF), and format characters such as the right-to-left override, would let a
    # name forge or disguise text in messages; they are dropped.
    cleaned = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    if len(cleaned) > _MAX_DISPLAY_NAME:
        cleaned = cleaned[: _MAX_DISPLAY_NAME - 1] + "…"
    return cleaned
