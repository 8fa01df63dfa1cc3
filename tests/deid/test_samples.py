"""Every sample of the shared corpus, de-identified under the basic profile, each option alone and one
combination, is checked against Table E.1-1 by an independent walker, then saved, read back and dumped
by DCMTK."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pydicom
import pytest

from imaging.deid import Option, Profile, ProjectKeys, Refused, SafePrivate, deidentify
from tests.deid.annex_e_check import Check
from tests.ingest.samples import sample_files

KEYS = ProjectKeys(b"palisade test project key, 32+ bytes long")
SINGLE_OPTIONS = [o.value for o in Option if o is not Option.CLEAN_PIXEL_DATA]
COMBINATION = [
    "retain-uids",
    "retain-device-identity",
    "retain-patient-characteristics",
    "retain-long-modified-dates",
    "clean-descriptors",
    "clean-structured-content",
    "clean-graphics",
]
PROFILES = [[], *([o] for o in SINGLE_OPTIONS), COMBINATION]
# CT_small's first private block (0009,10xx), creator "GEMS_IDEN_01": its (0009,1001) is the
# "Full fidelity" string, which the test declares safe to exercise the creator-aware keep.
SAFE = (SafePrivate("GEMS_IDEN_01", 0x0009, 0x01),)


def read(path: Path) -> pydicom.Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, force=True)
        except Exception:  # "every file that pydicom parses": the others are the ingest tests' business
            return None


def is_composite(ds: pydicom.Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    directory = meta is not None and meta.get("MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10"
    return bool(ds.get("SOPClassUID") and ds.get("SOPInstanceUID")) and not directory


PARSED = [p for p in sample_files() if read(p) is not None]


def test_the_corpus_is_there_and_mostly_composite():
    assert len(PARSED) >= 50
    assert sum(is_composite(read(p)) for p in PARSED) >= 50


@pytest.mark.parametrize("path", PARSED, ids=lambda p: p.name)
def test_non_composite_objects_are_refused_without_naming_the_patient(path):
    ds = read(path)
    if is_composite(ds):
        pytest.skip("a composite instance: de-identified by the other tests")
    with pytest.raises(Refused) as refused:
        deidentify(ds, Profile(), KEYS)
    for value in (ds.get("PatientName"), ds.get("PatientID")):
        if value:
            assert str(value) not in refused.value.reason


@pytest.mark.parametrize("options", PROFILES, ids=lambda o: "+".join(o) or "basic")
@pytest.mark.parametrize("path", PARSED, ids=lambda p: p.name)
def test_every_attribute_follows_table_e1_1(path, options):
    original = read(path)
    if not is_composite(original):
        pytest.skip("not a composite instance: refused, see the test above")
    output = deidentify(read(path), Profile.from_names(options, safe_private=SAFE), KEYS).dataset
    problems = Check(original, set(options), KEYS, SAFE).run(output)
    assert problems == []


@pytest.mark.parametrize("options", [[], COMBINATION], ids=["basic", "combination"])
@pytest.mark.parametrize("path", PARSED, ids=lambda p: p.name)
def test_output_is_written_read_back_and_dumped_cleanly(path, options, tmp_path):
    assert shutil.which("dcmdump"), "DCMTK's dcmdump is missing: run make system-deps"
    ds = read(path)
    if not is_composite(ds):
        pytest.skip("not a composite instance")
    outcome = deidentify(ds, Profile.from_names(options), KEYS)
    target = tmp_path / "out.dcm"
    outcome.dataset.save_as(target, enforce_file_format=True)
    back = pydicom.dcmread(target)
    assert back.SOPInstanceUID == back.file_meta.MediaStorageSOPInstanceUID == outcome.dataset.SOPInstanceUID
    assert back.PatientIdentityRemoved == "YES"
    assert target.read_bytes()[:128] == b"\x00" * 128
    dump = subprocess.run(["dcmdump", "-q", "+L", str(target)], capture_output=True, timeout=60)
    lines = (dump.stdout + dump.stderr).decode("latin-1").splitlines()
    errors = [line for line in lines if line.startswith(("E:", "F:")) or "error" in line.lower()]
    assert dump.returncode == 0 and errors == []


def test_the_declared_safe_private_element_and_its_creator_survive_and_nothing_else_private():
    original = read(next(p for p in PARSED if p.name == "CT_small.dcm"))
    assert original[0x0009, 0x1001].value  # the fixture this test relies on
    output = deidentify(read(original.filename), Profile.from_names(["retain-safe-private"], SAFE), KEYS)
    kept = sorted(int(t) for t in list(output.dataset.keys()) if t.is_private)
    assert kept == [0x00090010, 0x00091001]
    assert output.dataset[0x0009, 0x1001].value == original[0x0009, 0x1001].value
    assert output.report["private_kept"] == 2 and output.report["private_removed"] > 100


def test_without_the_option_even_a_declared_safe_private_element_goes():
    path = next(p for p in PARSED if p.name == "CT_small.dcm")
    output = deidentify(read(path), Profile(safe_private=SAFE), KEYS).dataset
    assert not any(t.is_private for t in list(output.keys()))


def test_the_report_counts_actions_and_holds_no_phi():
    path = next(p for p in PARSED if p.name == "CT_phi_ctbrain1.dcm")
    original = read(path)
    report = deidentify(read(path), Profile.from_names(["clean-descriptors"]), KEYS).report
    assert report["actions"]["X"] > 0 and report["private_removed"] > 0
    assert report["options"] == ["clean-descriptors"]
    assert report["method_codes"] == ["113100", "113105"]
    assert report["pixels"]["action"] == "keep"
    text = repr(report)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "SOPInstanceUID"):
        assert str(original[keyword].value) not in text
