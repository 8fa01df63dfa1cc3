"""Objects exported with the same project keys keep referring to each other; other keys give other UIDs."""

from __future__ import annotations

from datetime import date, timedelta

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from imaging.deid import Profile, ProjectKeys, deidentify
from tests.ingest.samples import SAMPLES

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
IDENTITIES = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "PatientID")


def ct() -> pydicom.Dataset:
    return pydicom.dcmread(SAMPLES / "CT_small.dcm")


def code(value: str, meaning: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def report_on(image: pydicom.Dataset) -> pydicom.Dataset:
    """A Comprehensive SR about `image`: an IMAGE content item and the evidence both point at it."""
    sr = pydicom.Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.SOPClassUID, sr.SOPInstanceUID = COMPREHENSIVE_SR, generate_uid()
    sr.file_meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    sr.file_meta.MediaStorageSOPInstanceUID = sr.SOPInstanceUID
    sr.SpecificCharacterSet = "ISO_IR 100"
    sr.Modality = "SR"
    sr.PatientName, sr.PatientID, sr.PatientBirthDate = image.PatientName, image.PatientID, "19700101"
    sr.StudyInstanceUID, sr.SeriesInstanceUID = image.StudyInstanceUID, generate_uid()
    sr.StudyDate, sr.ContentDate, sr.ContentTime = "20240102", "20240103", "101010"
    sr.ValueType, sr.ContinuityOfContent = "CONTAINER", "SEPARATE"
    sr.ConceptNameCodeSequence = [code("126000", "Imaging Measurement Report")]

    reference = pydicom.Dataset()
    reference.ReferencedSOPClassUID = image.SOPClassUID
    reference.ReferencedSOPInstanceUID = image.SOPInstanceUID
    image_item = pydicom.Dataset()
    image_item.RelationshipType, image_item.ValueType = "CONTAINS", "IMAGE"
    image_item.ConceptNameCodeSequence = [code("121112", "Source of Measurement")]
    image_item.ReferencedSOPSequence = [reference]
    text_item = pydicom.Dataset()
    text_item.RelationshipType, text_item.ValueType = "CONTAINS", "TEXT"
    text_item.ConceptNameCodeSequence = [code("121106", "Comment")]
    text_item.TextValue = f"Seen with {image.PatientName.family_name} ({image.PatientID}), lesion stable."
    sr.ContentSequence = [image_item, text_item]

    series = pydicom.Dataset()
    series.SeriesInstanceUID = image.SeriesInstanceUID
    series.ReferencedSOPSequence = [reference]
    study = pydicom.Dataset()
    study.StudyInstanceUID = image.StudyInstanceUID
    study.ReferencedSeriesSequence = [series]
    sr.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
    return sr


def test_the_same_keys_give_the_same_uids_on_re_export():
    keys = ProjectKeys.generate()
    first = deidentify(ct(), Profile(), keys).dataset
    again = deidentify(ct(), Profile(), ProjectKeys(keys.secret)).dataset
    for keyword in IDENTITIES:
        assert first[keyword].value == again[keyword].value


def test_other_keys_give_other_uids_and_pseudonyms():
    one = deidentify(ct(), Profile(), ProjectKeys.generate()).dataset
    other = deidentify(ct(), Profile(), ProjectKeys.generate()).dataset
    for keyword in IDENTITIES:
        assert one[keyword].value != other[keyword].value


def test_well_known_uids_are_never_mapped():
    out = deidentify(ct(), Profile(), ProjectKeys.generate()).dataset
    assert out.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_an_sr_still_references_the_de_identified_image():
    keys = ProjectKeys.generate()
    image, sr = ct(), report_on(ct())
    profile = Profile.from_names(["clean-structured-content"])
    new_image = deidentify(image, profile, keys).dataset
    new_sr = deidentify(sr, profile, keys).dataset

    assert new_image.SOPInstanceUID != ct().SOPInstanceUID
    evidence = new_sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == new_image.StudyInstanceUID == new_sr.StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == new_image.SeriesInstanceUID
    assert series.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == new_image.SOPInstanceUID
    image_item, text_item = new_sr.ContentSequence
    assert image_item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == new_image.SOPInstanceUID
    assert image_item.ReferencedSOPSequence[0].ReferencedSOPClassUID == new_image.SOPClassUID
    # Clean Structured Content: the text item stays, without the patient's name and ID.
    assert text_item.TextValue == "Seen with (), lesion stable."
    assert new_sr.PatientID == new_image.PatientID and new_sr.PatientName == new_image.PatientName


def test_without_clean_structured_content_the_sr_content_is_replaced_but_the_evidence_still_resolves():
    keys = ProjectKeys.generate()
    new_image = deidentify(ct(), Profile(), keys).dataset
    new_sr = deidentify(report_on(ct()), Profile(), keys).dataset
    # Content Sequence is D in the basic profile: replaced with one empty item, text and all.
    assert len(new_sr.ContentSequence) == 1 and len(new_sr.ContentSequence[0]) == 0
    evidence = new_sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == new_image.SOPInstanceUID


def test_dates_move_by_one_offset_per_patient_under_modified_dates():
    keys = ProjectKeys.generate()
    profile = Profile.from_names(["retain-long-modified-dates"])
    new_image = deidentify(ct(), profile, keys).dataset
    new_sr = deidentify(report_on(ct()), profile, keys).dataset
    offset = keys.date_offset_days(ct().PatientID)
    assert -3650 <= offset <= -1
    assert new_sr.StudyDate == _plus_days("20240102", offset)
    assert new_image.StudyDate == _plus_days(ct().StudyDate, offset)
    assert new_image.LongitudinalTemporalInformationModified == "MODIFIED"


def _plus_days(yyyymmdd: str, days: int) -> str:
    day = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])) + timedelta(days=days)
    return day.strftime("%Y%m%d")
