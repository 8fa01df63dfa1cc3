"""ZIP uploads (THREATS.md item 8): only regular files come out, under names the server chose."""

import io
import os
import stat
import struct
import zipfile

import pytest

from imaging.ingest.archives import ArchiveMember, iter_archive_members
from imaging.ingest.errors import FailureReason, IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import parse_instance
from tests.ingest.samples import SAMPLES

LIMITS = IngestLimits()
THREE = ["CT_small.dcm", "MR_small.dcm", "chrX1.dcm"]


@pytest.fixture
def workdir(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def make_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """entries: (name or ZipInfo, bytes) pairs."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def extract(zip_path, workdir, limits=LIMITS) -> list[ArchiveMember]:
    return list(iter_archive_members(zip_path, workdir, limits=limits))


def refused(zip_path, workdir, limits=LIMITS) -> IngestRejected:
    with pytest.raises(IngestRejected) as caught:
        extract(zip_path, workdir, limits)
    return caught.value


def test_regular_files_are_extracted_and_folders_and_dicomdir_skipped(tmp_path, workdir):
    entries = [(f"study/series/{name}", (SAMPLES / name).read_bytes()) for name in THREE]
    entries += [
        ("study/", b""),
        ("study/DICOMDIR", (SAMPLES / "DICOMDIR").read_bytes()),
        ("__MACOSX/study/._CT_small.dcm", b"\x00\x05\x16\x07"),
    ]
    members = extract(make_zip(tmp_path / "upload.zip", entries), workdir)

    assert [m.display_name for m in members] == [f"study/series/{name}" for name in THREE]
    for member, name in zip(members, THREE, strict=True):
        assert member.path.parent == workdir
        assert member.path.name.startswith("member-")
        assert member.path.read_bytes() == (SAMPLES / name).read_bytes()
        assert member.size_bytes == member.path.stat().st_size
        assert stat.S_IMODE(member.path.stat().st_mode) == 0o600
        assert parse_instance(member.path, limits=LIMITS).sop_instance_uid
    assert sorted(os.listdir(workdir)) == sorted(m.path.name for m in members)


@pytest.mark.parametrize(
    "name",
    [
        "../evil.dcm",
        "a/../../evil.dcm",
        "/etc/cron.d/evil",
        "C:/Windows/evil.dcm",
        "a\\..\\..\\evil.dcm",
        "..",
    ],
)
def test_zip_slip_names_refuse_the_archive(tmp_path, workdir, name):
    zip_path = make_zip(tmp_path / "slip.zip", [("ok.dcm", b"x"), (zipfile.ZipInfo(name), b"evil")])
    error = refused(zip_path, workdir)
    assert error.code == "unsafe_archive"
    assert os.listdir(workdir) == []
    assert not (tmp_path / "evil.dcm").exists()


def test_symlink_entry_refuses_the_archive(tmp_path, workdir):
    link = zipfile.ZipInfo("innocent.dcm")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refused(make_zip(tmp_path / "link.zip", [(link, b"/etc/passwd")]), workdir)
    assert error.code == "unsafe_archive"
    assert "symbolic link" in error.reason
    assert os.listdir(workdir) == []


def test_too_many_entries_refuse_the_archive(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "many.zip", [(f"{n}.dcm", b"x") for n in range(6)])
    error = refused(zip_path, workdir, IngestLimits(max_zip_entries=5))
    assert error.code == "archive_too_large"
    assert error.failure_reason == FailureReason.OUT_OF_RESOURCES
    assert len(extract(zip_path, workdir, IngestLimits(max_zip_entries=6))) == 6


def test_compression_ratio_bomb_refuses_the_archive(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "bomb.zip", [("zeros.dcm", bytes(50 * 1024 * 1024))])
    assert zip_path.stat().st_size < 1024 * 1024
    error = refused(zip_path, workdir)
    assert error.code == "archive_too_large"
    assert "200 times" in error.reason
    assert os.listdir(workdir) == []


def test_small_entries_may_compress_well(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "blank.zip", [("blank.dcm", bytes(1024 * 1024))])
    assert len(extract(zip_path, workdir)) == 1


def test_total_uncompressed_bytes_over_the_limit_refuse_the_archive(tmp_path, workdir):
    entries = [(f"{n}.dcm", os.urandom(1024 * 1024)) for n in range(3)]
    zip_path = make_zip(tmp_path / "big.zip", entries, compression=zipfile.ZIP_STORED)
    error = refused(zip_path, workdir, IngestLimits(max_zip_bytes=int(2.5 * 1024 * 1024)))
    assert error.code == "archive_too_large"


def central_directory_offsets(data: bytes) -> list[int]:
    """Positions of the central directory file headers in a ZIP."""
    positions, at = [], data.find(b"PK\x01\x02")
    while at >= 0:
        positions.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    return positions


def test_overlapping_entries_refuse_the_archive(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "overlap.zip", [("a.dcm", b"A" * 1000), ("b.dcm", b"B" * 1000)])
    data = bytearray(zip_path.read_bytes())
    first, second = central_directory_offsets(bytes(data))
    # The second central directory entry points at the first entry's local header (offset field at +42).
    data[second + 42 : second + 46] = data[first + 42 : first + 46]
    zip_path.write_bytes(bytes(data))
    error = refused(zip_path, workdir)
    assert error.code == "unsafe_archive"
    assert "overlaps" in error.reason
    assert os.listdir(workdir) == []


def test_entry_whose_header_lies_about_its_size_is_refused(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "lie.zip", [("a.dcm", os.urandom(4096))], compression=zipfile.ZIP_STORED)
    data = bytearray(zip_path.read_bytes())
    (entry,) = central_directory_offsets(bytes(data))
    data[entry + 24 : entry + 28] = struct.pack("<L", 10)  # uncompressed size in the central directory
    zip_path.write_bytes(bytes(data))
    error = refused(zip_path, workdir)
    assert error.code == "unsafe_archive"
    assert os.listdir(workdir) == []


def test_nested_zip_is_a_member_that_is_not_dicom(tmp_path, workdir):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("CT_small.dcm", (SAMPLES / "CT_small.dcm").read_bytes())
    (member,) = extract(make_zip(tmp_path / "outer.zip", [("inner.zip", inner.getvalue())]), workdir)
    with pytest.raises(IngestRejected) as caught:
        parse_instance(member.path, limits=LIMITS)
    assert caught.value.code == "not_dicom"


def test_not_a_zip_is_refused(tmp_path, workdir):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"PK\x03\x04 definitely not a zip")
    assert refused(path, workdir).code == "not_zip"


def test_encrypted_entry_is_refused(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "enc.zip", [("a.dcm", b"x" * 100)], compression=zipfile.ZIP_STORED)
    data = bytearray(zip_path.read_bytes())
    (entry,) = central_directory_offsets(bytes(data))
    data[entry + 8] |= 0x1  # general purpose flag: encrypted
    zip_path.write_bytes(bytes(data))
    assert refused(zip_path, workdir).code == "unsupported_archive"


def test_display_names_lose_control_and_bidi_characters(tmp_path, workdir):
    zip_path = make_zip(tmp_path / "names.zip", [("scan\u202egpj.dcm\r\nINFO forged", b"x")])
    (member,) = extract(zip_path, workdir)
    assert member.display_name == "scangpj.dcmINFO forged"
