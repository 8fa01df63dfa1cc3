"""Hostile DICOM files (THREATS.md "Hostile DICOM and uploads"), built in tmp_path."""

import random
import struct
import time

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from imaging.ingest.errors import FailureReason, IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import ParsedInstance, parse_instance, zeroed_preamble_reader
from tests.ingest.builders import minimal_dataset, nested_sequence, write, write_minimal
from tests.ingest.samples import SAMPLES

# pydicom warns when a test deliberately writes an invalid value.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIMITS = IngestLimits()


def rejected(path, limits=LIMITS) -> IngestRejected:
    with pytest.raises(IngestRejected) as caught:
        parse_instance(path, limits=limits)
    return caught.value


def test_minimal_file_is_accepted(tmp_path):
    parsed = parse_instance(write_minimal(tmp_path / "ok.dcm"), limits=LIMITS)
    assert parsed.patient_name == "Test^Patient"
    assert not parsed.preamble_nonzero
    assert parsed.preamble_threat is None


def test_limits_default_to_settings(tmp_path, settings):
    settings.PALISADE_MAX_OBJECT_BYTES = 100
    assert IngestLimits.from_settings().max_object_bytes == 100
    assert rejected(write_minimal(tmp_path / "ok.dcm"), limits=None).code == "too_large"


# --- Preamble polyglots (CVE-2019-11687, PS3.10 7.1) ----------------------------------------------------


@pytest.mark.parametrize(
    ("magic", "threat"),
    [(b"MZ\x90\x00\x03\x00", "pe"), (b"\x7fELF\x02\x01\x01", "elf"), (b"#!/bin/sh\n", "script")],
)
def test_executable_preamble_is_reported_and_zeroed(tmp_path, magic, threat):
    path = write_minimal(tmp_path / "polyglot.dcm")
    original = path.read_bytes()
    polyglot = (magic + b"\xcc" * 128)[:128] + original[128:]
    path.write_bytes(polyglot)

    parsed = parse_instance(path, limits=LIMITS)
    assert parsed.preamble_threat == threat
    assert parsed.preamble_nonzero

    with zeroed_preamble_reader(path) as reader:
        sanitized = reader.read()
    assert sanitized[:128] == bytes(128)
    assert sanitized[128:] == polyglot[128:]


def test_zeroed_reader_streams_in_small_reads(tmp_path):
    path = write_minimal(tmp_path / "polyglot.dcm")
    data = b"MZ" + path.read_bytes()[2:]
    path.write_bytes(data)
    chunks = []
    with zeroed_preamble_reader(path) as reader:
        while chunk := reader.read(7):
            chunks.append(chunk)
    assert b"".join(chunks) == bytes(128) + data[128:]


def test_zeroed_reader_leaves_a_file_without_preamble_alone(tmp_path):
    path = tmp_path / "raw.bin"
    path.write_bytes(b"MZ" + bytes(range(256)) * 3)
    with zeroed_preamble_reader(path) as reader:
        assert reader.read() == path.read_bytes()


# --- Structure --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("defined_length", [True, False])
def test_sequences_nested_500_deep_are_refused_quickly(tmp_path, defined_length):
    path = write_minimal(tmp_path / "deep.dcm", PixelData=None)
    with path.open("ab") as fp:
        fp.write(nested_sequence(500, defined_length=defined_length))
    started = time.monotonic()
    error = rejected(path)
    assert error.code == "too_deep"
    assert error.failure_reason == FailureReason.OUT_OF_RESOURCES
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("defined_length", [True, False])
def test_nesting_up_to_the_limit_is_accepted(tmp_path, defined_length):
    path = write_minimal(tmp_path / "nested.dcm", PixelData=None)
    with path.open("ab") as fp:
        fp.write(nested_sequence(4, defined_length=defined_length))
    assert isinstance(parse_instance(path, limits=IngestLimits(max_sequence_depth=4)), ParsedInstance)
    assert rejected(path, IngestLimits(max_sequence_depth=3)).code == "too_deep"


def test_pixel_bomb_is_refused_before_decoding(tmp_path):
    path = write_minimal(tmp_path / "bomb.dcm", Rows=65535, Columns=65535, NumberOfFrames=10000)
    started = time.monotonic()
    error = rejected(path)
    assert error.code == "pixel_budget"
    assert error.failure_reason == FailureReason.OUT_OF_RESOURCES
    assert time.monotonic() - started < 1


def test_native_pixel_data_shorter_than_declared_is_refused(tmp_path):
    path = write_minimal(tmp_path / "short.dcm", Rows=64, Columns=64, PixelData=bytes(100))
    assert rejected(path).code == "truncated"


def test_pixel_data_running_past_end_of_file_is_refused(tmp_path):
    path = write_minimal(tmp_path / "cut.dcm", Rows=64, Columns=64, PixelData=bytes(64 * 64 * 2))
    path.write_bytes(path.read_bytes()[:-1000])
    assert rejected(path).code == "truncated"


def test_text_value_cut_by_end_of_file_is_refused(tmp_path):
    path = write_minimal(tmp_path / "cut.dcm", PixelData=None, StudyDescription="x" * 60, Rows=None)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"x" * 60) + 30])
    assert rejected(path).code == "truncated"


def test_large_value_running_past_end_of_file_is_refused(tmp_path):
    # Above the parser's defer size, a value is skipped by seeking rather than read.
    path = write_minimal(tmp_path / "cut.dcm", PixelData=None, EncapsulatedDocument=bytes(3 * 1024 * 1024))
    path.write_bytes(path.read_bytes()[:-1024])
    assert rejected(path).code == "truncated"


def test_encapsulated_fragment_past_end_of_file_is_refused(tmp_path):
    data = (SAMPLES / "MR_small_RLE.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    # Cut inside the RLE fragment (the file also carries a TIFF directory after its pixel data).
    path.write_bytes(data[:3000])
    assert rejected(path).code == "truncated"


def test_invalid_is_value_is_tolerated(tmp_path):
    # badVR.dcm's NumberOfFrames is '1A': the standard's IS cannot hold it, pydicom reads it with a
    # warning. Not an identifying attribute, so the object is accepted and the index gets None. The
    # sample itself is refused for its meta/data set mismatch; here the meta is made to agree.
    ds = pydicom.dcmread(SAMPLES / "badVR.dcm")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    parsed = parse_instance(write(ds, tmp_path / "badvr.dcm"), limits=LIMITS)
    assert parsed.number_of_frames is None
    assert parsed.modality == "RTDOSE"


def test_invalid_dates_and_numbers_become_none(tmp_path):
    path = write_minimal(
        tmp_path / "dates.dcm",
        PatientBirthDate="20231399",
        StudyDate="yesterday",
        StudyTime="256161",
        SeriesNumber="99999999999",
    )
    parsed = parse_instance(path, limits=LIMITS)
    assert (parsed.patient_birth_date, parsed.study_date, parsed.study_time) == (None, None, None)
    assert parsed.series_number is None


def test_long_values_are_truncated_to_index_columns(tmp_path):
    parsed = parse_instance(
        write_minimal(tmp_path / "long.dcm", AccessionNumber="A" * 40, StudyDescription="d" * 300),
        limits=LIMITS,
    )
    assert parsed.accession_number == "A" * 16
    assert parsed.study_description == "d" * 64


# --- File meta and identity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uid", ["../../etc/passwd", "/abs", "1" * 65, "1.02.3", "1..2", "1.2.", "1.2.3a", "C:\\x", "1.2\n.3"]
)
@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_invalid_uids_are_refused(tmp_path, keyword, uid):
    # The file meta keeps a valid Media Storage SOP Instance UID: the data set's own UID is at fault.
    ds = minimal_dataset(**{keyword: uid})
    error = rejected(write(ds, tmp_path / "uid.dcm", keep_meta=True))
    assert error.code == "invalid_uid"
    assert uid not in error.reason
    assert error.failure_reason == FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS


def test_uid_of_64_characters_is_accepted(tmp_path):
    uid = "1." + "2" * 62
    ds = minimal_dataset(SOPInstanceUID=uid)
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    assert parse_instance(write(ds, tmp_path / "uid.dcm"), limits=LIMITS).sop_instance_uid == uid


def test_missing_study_uid_is_refused(tmp_path):
    assert rejected(write_minimal(tmp_path / "m.dcm", StudyInstanceUID=None)).code == "missing_uid"


def test_meta_and_dataset_sop_instance_mismatch_is_refused(tmp_path):
    ds = minimal_dataset()
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    error = rejected(write(ds, tmp_path / "mismatch.dcm", keep_meta=True))
    assert error.code == "meta_mismatch"
    assert "does not match" in error.reason


def test_unknown_transfer_syntax_is_refused(tmp_path):
    path = tmp_path / "ts.dcm"
    # pydicom will not encode in a syntax it does not know: write as Explicit VR LE, then patch the meta.
    write_minimal(path)
    data = path.read_bytes()
    patched = data.replace(b"1.2.840.10008.1.2.1\x00", b"1.2.3.4.5.6.7.8.9.0\x00", 1)
    assert patched != data
    path.write_bytes(patched)
    error = rejected(path)
    assert error.code == "unsupported"
    assert error.failure_reason == FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED


def test_deflate_bomb_is_refused_before_inflating(tmp_path):
    ds = minimal_dataset(PixelData=None, Rows=None, EncapsulatedDocument=bytes(4 * 1024 * 1024))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = write(ds, tmp_path / "deflated.dcm")
    assert path.stat().st_size < 64 * 1024
    assert isinstance(parse_instance(path, limits=LIMITS), ParsedInstance)
    error = rejected(path, IngestLimits(max_inflated_bytes=1024 * 1024))
    assert error.code == "too_large"


def test_object_over_the_size_limit_is_refused(tmp_path):
    path = write_minimal(tmp_path / "big.dcm")
    error = rejected(path, IngestLimits(max_object_bytes=100))
    assert error.code == "too_large"
    assert error.failure_reason == FailureReason.OUT_OF_RESOURCES


# --- Text is data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Evil^Line\r\nINFO forged log line",
        "Nul^Byte\x00Inside",
        "<script>alert(1)</script>^{{ 7*7 }}",
        '=HYPERLINK("http://x")^Formula',
        "Right\u202eto\u202cLeft^Override",
    ],
)
def test_injection_in_names_is_kept_as_data(tmp_path, name):
    parsed = parse_instance(write_minimal(tmp_path / "inj.dcm", PatientName=name), limits=LIMITS)
    assert parsed.patient_name == name
    assert not parsed.character_set_fallback


def test_invalid_character_set_falls_back(tmp_path):
    ds = minimal_dataset(SpecificCharacterSet="ISO_IR 100")
    ds.PatientName = "Müller^Jürgen"
    path = write(ds, tmp_path / "charset.dcm")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"ISO_IR 100", b"ISO_IR 999", 1))
    parsed = parse_instance(path, limits=LIMITS)
    assert parsed.character_set_fallback
    assert parsed.patient_name.startswith("M")


def test_undecodable_bytes_fall_back(tmp_path):
    path = write_minimal(tmp_path / "utf8.dcm", PatientName="Zoe^Test")
    path.write_bytes(path.read_bytes().replace(b"Zoe^Test", b"Zo\xff^Test", 1))
    parsed = parse_instance(path, limits=LIMITS)
    assert parsed.character_set_fallback
    assert parsed.patient_name.endswith("^Test")


def test_rejection_reasons_carry_no_phi(tmp_path):
    ds = minimal_dataset(PatientName="Secret^Person", PatientID="MRN-424242", StudyInstanceUID="1.02")
    error = rejected(write(ds, tmp_path / "phi.dcm"))
    for value in ("Secret", "Person", "424242", "1.02"):
        assert value not in error.reason
        assert value not in repr(error)


# --- Not DICOM at all -------------------------------------------------------------------------------------


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    assert rejected(path).code == "not_dicom"


@pytest.mark.parametrize("size", [1, 131, 200, 4096])
def test_random_bytes_are_refused(tmp_path, size):
    path = tmp_path / "random.bin"
    # Seeded, so every run tests the same bytes; the first byte rules out a bare data set's tag.
    path.write_bytes(bytes([0x4D]) + random.Random(size).randbytes(size - 1))  # noqa: S311
    assert rejected(path).code in {"not_dicom", "truncated"}


def test_preamble_and_dicm_only_is_refused(tmp_path):
    path = tmp_path / "prefix.dcm"
    path.write_bytes(bytes(128) + b"DICM" + struct.pack("<HH", 2, 0)[:3])
    assert rejected(path).code in {"bad_file_meta", "truncated", "corrupt"}


@pytest.mark.parametrize("cut", [150, 200, 300, 400])
def test_file_cut_short_is_refused(tmp_path, cut):
    path = write_minimal(tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:cut])
    assert rejected(path).code in {"bad_file_meta", "truncated", "missing_uid"}


def test_explicit_vr_little_endian_is_the_default_syntax():
    assert minimal_dataset().file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_pydicom_value_complaints_do_not_reach_logs(tmp_path, caplog):
    ds = pydicom.dcmread(SAMPLES / "badVR.dcm")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = write(ds, tmp_path / "badvr.dcm")
    with caplog.at_level("DEBUG"):
        parse_instance(path, limits=LIMITS)
    assert "1A" not in caplog.text
    assert "pydicom" not in {record.name for record in caplog.records}
