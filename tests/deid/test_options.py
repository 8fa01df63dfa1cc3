"""What the clean-* options keep that the basic profile takes away, and what they still take away."""

from __future__ import annotations

import numpy as np
import pydicom

from imaging.deid import Profile, ProjectKeys, deidentify
from tests.ingest.samples import SAMPLES

KEYS = ProjectKeys.generate()
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"


def ct_with_descriptions() -> pydicom.Dataset:
    ds = pydicom.dcmread(SAMPLES / "CT_phi_ctbrain1.dcm")
    ds.StudyDescription = f"CT head for {ds.PatientName.family_name.lower()}, MRN {ds.PatientID}"
    ds.ImageComments = f"born {ds.PatientBirthDate[:4]}-{ds.PatientBirthDate[4:6]}-{ds.PatientBirthDate[6:]}"
    return ds


def test_clean_descriptors_keeps_descriptions_without_the_patient_values():
    out = deidentify(ct_with_descriptions(), Profile.from_names(["clean-descriptors"]), KEYS).dataset
    assert out.StudyDescription == "CT head for , MRN"
    assert out.ImageComments == "born"


def test_the_basic_profile_removes_or_empties_descriptions():
    out = deidentify(ct_with_descriptions(), Profile(), KEYS).dataset
    assert "StudyDescription" not in out
    assert "ImageComments" not in out


def presentation_state(image: pydicom.Dataset) -> pydicom.Dataset:
    ps = pydicom.Dataset()
    ps.file_meta = pydicom.dataset.FileMetaDataset()
    ps.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ps.SOPClassUID, ps.SOPInstanceUID = GSPS, pydicom.uid.generate_uid()
    ps.PatientName, ps.PatientID = image.PatientName, image.PatientID
    ps.StudyInstanceUID = image.StudyInstanceUID
    text = pydicom.Dataset()
    text.UnformattedTextValue = f"{image.PatientName.family_name} {image.PatientID} left lesion"
    text.AnchorPointAnnotationUnits = "PIXEL"
    reference = pydicom.Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = (
        image.SOPClassUID,
        image.SOPInstanceUID,
    )
    annotation = pydicom.Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.ReferencedImageSequence = [reference]
    annotation.TextObjectSequence = [text]
    ps.GraphicAnnotationSequence = [annotation]
    return ps


def test_clean_graphics_cleans_annotation_text_and_keeps_its_image_reference():
    image = pydicom.dcmread(SAMPLES / "CT_small.dcm")
    out_image = deidentify(pydicom.dcmread(SAMPLES / "CT_small.dcm"), Profile(), KEYS).dataset
    out = deidentify(presentation_state(image), Profile.from_names(["clean-graphics"]), KEYS).dataset
    annotation = out.GraphicAnnotationSequence[0]
    assert annotation.TextObjectSequence[0].UnformattedTextValue == "left lesion"
    assert annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_image.SOPInstanceUID


def test_without_clean_graphics_the_annotations_are_replaced():
    image = pydicom.dcmread(SAMPLES / "CT_small.dcm")
    out = deidentify(presentation_state(image), Profile(), KEYS).dataset
    assert len(out.GraphicAnnotationSequence) == 1 and len(out.GraphicAnnotationSequence[0]) == 0


def test_overlays_leave_only_under_clean_graphics():
    original = pydicom.dcmread(SAMPLES / "MR_with_overlay.dcm")
    assert (0x6000, 0x3000) in original
    basic = deidentify(pydicom.dcmread(SAMPLES / "MR_with_overlay.dcm"), Profile(), KEYS).dataset
    assert not any(tag.group & 0xFF00 == 0x6000 for tag in list(basic.keys()))
    kept = deidentify(
        pydicom.dcmread(SAMPLES / "MR_with_overlay.dcm"), Profile.from_names(["clean-graphics"]), KEYS
    ).dataset
    assert np.array_equal(kept.overlay_array(0x6000), original.overlay_array(0x6000))
