"""The independent check is only worth something if it fails: each planted mistake must be reported.
And, beyond the table, no sample's patient name, ID or accession number survives anywhere."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pydicom
import pytest

from imaging.deid import Profile, ProjectKeys, Refused, deidentify
from tests.deid.annex_e_check import Check
from tests.deid.test_samples import PARSED, read
from tests.ingest.samples import SAMPLES

KEYS = ProjectKeys(b"k" * 32)
PHI = "CT_phi_ctbrain1.dcm"


def _set(keyword: str, value: object) -> Callable[[pydicom.Dataset, pydicom.Dataset], None]:
    def plant(out: pydicom.Dataset, original: pydicom.Dataset) -> None:
        setattr(out, keyword, original.get(keyword) if value is None else value)

    return plant


def _nested_uid_restored(out: pydicom.Dataset, original: pydicom.Dataset) -> None:
    ref = original.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    out.ReferencedImageSequence[0].ReferencedSOPInstanceUID = ref


def _private_restored(out: pydicom.Dataset, original: pydicom.Dataset) -> None:
    tag = next(t for t in list(original.keys()) if t.is_private)
    out[tag] = copy.deepcopy(original[tag])


MISTAKES = {
    "X attribute left": (_set("OtherPatientIDs", None), "X attribute remains"),
    "Z attribute kept": (_set("PatientBirthDate", None), "Z attribute is not empty"),
    "D attribute kept": (_set("InstitutionName", None), "D attribute kept its original value"),
    "invalid dummy date": (_set("ContentDate", "1.1.1900"), "not a valid DA"),
    "UID not mapped": (_set("SOPInstanceUID", None), "UID is not ProjectKeys.uid"),
    "nested UID not mapped": (_nested_uid_restored, "(0008,1140)[0].(0008,1155): UID is not"),
    "wrong pseudonym": (_set("PatientID", "ANON"), "Patient ID is not the project pseudonym"),
    "unlisted attribute changed": (_set("Rows", 1), "does not list was changed"),
    "private element kept": (_private_restored, "private element kept"),
    "marker missing": (_set("PatientIdentityRemoved", "NO"), "Patient Identity Removed"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_check_reports_a_planted_mistake(mistake):
    plant, message = MISTAKES[mistake]
    original = pydicom.dcmread(SAMPLES / PHI)
    out = deidentify(pydicom.dcmread(SAMPLES / PHI), Profile(), KEYS).dataset
    assert Check(original, set(), KEYS).run(out) == []
    plant(out, original)
    problems = Check(original, set(), KEYS).run(out)
    assert any(message in problem for problem in problems), problems


def _strings(ds: pydicom.Dataset) -> list[str]:
    found = []
    for elem in ds.iterall():
        if elem.VR in ("SQ", "OB", "OW", "UN", "OF", "OD", "OL", "OV") or elem.value is None:
            continue
        found.append(str(elem.value))
    return found


@pytest.mark.parametrize("options", [[], ["clean-descriptors", "clean-structured-content", "clean-graphics"]])
@pytest.mark.parametrize("path", PARSED, ids=lambda p: p.name)
def test_no_patient_name_id_or_accession_number_survives_anywhere(path, options):
    original = read(path)
    try:
        out = deidentify(read(path), Profile.from_names(options), KEYS).dataset
    except Refused:
        pytest.skip("refused: nothing leaves")
    secrets = {str(original.get(k) or "").strip() for k in ("PatientName", "PatientID", "AccessionNumber")}
    secrets = {s for s in secrets if len(s) >= 4}
    text = "\n".join(_strings(out) + _strings(out.file_meta))
    assert [s for s in secrets if s in text] == []
