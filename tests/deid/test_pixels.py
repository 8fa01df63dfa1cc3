"""Burned-in annotation: refused by default, masked under a rule, refused for a flagged device with no
rule; masked pixels are zero inside the rectangles and untouched outside, stored uncompressed."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from imaging.deid import MaskRule, PixelPolicy, Profile, ProjectKeys, Refused, deidentify
from tests.ingest.samples import SAMPLES

KEYS = ProjectKeys.generate()
CT_RULE = MaskRule("GE MEDICAL SYSTEMS", "RHAPSODE", ((10, 20, 30, 15), (100, 0, 28, 8)))


def burned_in_ct() -> pydicom.Dataset:
    ds = pydicom.dcmread(SAMPLES / "CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    return ds


def test_burned_in_annotation_is_refused_by_default_without_naming_the_patient():
    ds = burned_in_ct()
    with pytest.raises(Refused, match="burned-in annotation") as refused:
        deidentify(ds, Profile(), KEYS)
    assert str(ds.PatientName) not in refused.value.reason and ds.PatientID not in refused.value.reason


def test_burned_in_annotation_is_masked_under_a_rule_and_the_rest_of_the_image_is_unchanged():
    original = burned_in_ct().pixel_array.copy()
    outcome = deidentify(burned_in_ct(), Profile(), KEYS, PixelPolicy(burned_in="clean", masks=(CT_RULE,)))
    masked = outcome.dataset.pixel_array
    expected = original.copy()
    expected[20:35, 10:40] = 0
    expected[0:8, 100:128] = 0
    assert original[20:35, 10:40].any()  # the rectangle had something to clear
    assert np.array_equal(masked, expected)
    assert outcome.dataset.BurnedInAnnotation == "NO"
    assert outcome.dataset.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert outcome.report["pixels"]["action"] == "mask"
    assert "113101" in [item.CodeValue for item in outcome.dataset.DeidentificationMethodCodeSequence]
    assert "clean-pixel-data" in outcome.report["options"]


def test_a_mask_rule_for_another_image_size_does_not_apply():
    rule = MaskRule("GE MEDICAL SYSTEMS", "RHAPSODE", ((0, 0, 10, 10),), rows=512, columns=512)
    with pytest.raises(Refused, match="no mask rule for device GE MEDICAL SYSTEMS / RHAPSODE"):
        deidentify(burned_in_ct(), Profile(), KEYS, PixelPolicy(burned_in="clean", masks=(rule,)))


def test_a_flagged_device_without_a_rule_is_refused_naming_the_model():
    ds = pydicom.dcmread(SAMPLES / "CT_small.dcm")
    assert ds.get("BurnedInAnnotation") is None
    policy = PixelPolicy(burned_in="clean", flagged_devices=(("ge medical systems", "rhapsode"),))
    with pytest.raises(Refused, match="RHAPSODE") as refused:
        deidentify(ds, Profile(), KEYS, policy)
    assert str(ds.PatientName) not in refused.value.reason


def test_the_clean_pixel_data_option_asks_for_cleaning_instead_of_refusal():
    policy = PixelPolicy(masks=(CT_RULE,))  # burned_in="refuse"
    outcome = deidentify(burned_in_ct(), Profile.from_names(["clean-pixel-data"]), KEYS, policy)
    assert outcome.report["pixels"]["action"] == "mask"


def test_unflagged_pixels_are_kept_byte_for_byte():
    ds = pydicom.dcmread(SAMPLES / "MR_small_jp2klossless.dcm")
    before = ds.PixelData
    outcome = deidentify(ds, Profile(), KEYS, PixelPolicy(burned_in="clean"))
    assert outcome.dataset.PixelData == before
    assert outcome.report["pixels"] == {"action": "keep", "reason": "no burned-in annotation flagged"}
    assert "113101" not in outcome.report["method_codes"]


def test_compressed_colour_multiframe_is_masked_in_every_frame_and_written_as_rgb(tmp_path):
    def flagged() -> pydicom.Dataset:
        ds = pydicom.dcmread(SAMPLES / "US_multiframe_jpeg_ybr.dcm")
        ds.BurnedInAnnotation = "YES"
        return ds

    original = flagged().pixel_array.copy()  # pydicom converts YBR to RGB when decoding
    rule = MaskRule("SonoSite, Inc.", "Turbo", ((0, 0, 320, 24),))
    outcome = deidentify(flagged(), Profile(), KEYS, PixelPolicy(burned_in="clean", masks=(rule,)))
    outcome.dataset.save_as(tmp_path / "us.dcm", enforce_file_format=True)
    back = pydicom.dcmread(tmp_path / "us.dcm")
    assert back.PhotometricInterpretation == "RGB" and back.PlanarConfiguration == 0
    assert back.NumberOfFrames == 30 and not back.file_meta.TransferSyntaxUID.is_compressed
    masked = back.pixel_array
    assert not masked[:, 0:24].any()
    assert np.array_equal(masked[:, 24:], original[:, 24:])
