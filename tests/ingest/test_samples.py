"""Every file of the shared sample corpus, with the outcome we expect from parse_instance.

ACCEPT or the rejection code, file by file. Notes on the less obvious rows:
- CT_bad_meta: Media Storage SOP Class UID (0002,0002) is missing; PS3.10 makes it Type 1 -> bad_file_meta.
- CT_no_preamble_no_meta: a bare dataset with a stray leading byte, so it does not even start with a tag;
  no DICM either way -> not_dicom. The two other bare datasets start with a group 0008 tag -> no_file_meta.
- badVR, rtdose, rtplan: their SOP Instance UID differs from the Media Storage SOP Instance UID in the file
  meta (the files were edited after writing) -> meta_mismatch, whatever else is in them. badVR's IS '1A'
  itself is tolerated: see test_hostile.test_invalid_is_value_is_tolerated.
- JPEGLSNearLossless_08, SC_rgb_HTJ2K_lossless: no Study/Series Instance UID, so the index cannot place them.
- UN_sequence, chrSQEncoding, private_SQ_undefined_length: fragments without a SOP Class UID.
"""

import datetime

import pytest

from imaging.ingest.errors import FailureReason, IngestRejected
from imaging.ingest.limits import IngestLimits
from imaging.ingest.parse import parse_instance
from tests.ingest.samples import SAMPLES, sample_files

ACCEPT = "accept"

EXPECTED = {
    "badVR.dcm": "meta_mismatch",
    "chrArab.dcm": ACCEPT,
    "chrFren.dcm": ACCEPT,
    "chrGerm.dcm": ACCEPT,
    "chrGreek.dcm": ACCEPT,
    "chrH31.dcm": ACCEPT,
    "chrHbrw.dcm": ACCEPT,
    "chrI2.dcm": ACCEPT,
    "chrRuss.dcm": ACCEPT,
    "chrSQEncoding.dcm": "missing_uid",
    "chrX1.dcm": ACCEPT,
    "chrX2.dcm": ACCEPT,
    "CR_RG3_J2KI.dcm": ACCEPT,
    "CR_small_6154.dcm": ACCEPT,
    "CT_bad_meta.dcm": "bad_file_meta",
    "CT_no_preamble_no_meta.dcm": "not_dicom",
    "CT_phi_ctbrain1.dcm": ACCEPT,
    "CT_small.dcm": ACCEPT,
    "DICOMDIR": "dicomdir",
    "DX_dog.dcm": ACCEPT,
    "ECG_waveform.dcm": ACCEPT,
    "encapsulated_pdf.dcm": ACCEPT,
    "ExplVR_LitEndNoMeta.dcm": "no_file_meta",
    "JPEGLSNearLossless_08.dcm": "missing_uid",
    "meta_missing_tsyntax.dcm": "bad_file_meta",
    "MG_for_presentation_GH133.dcm": ACCEPT,
    "MR_enhanced_multiframe.dcm": ACCEPT,
    "MR_small.dcm": ACCEPT,
    "MR_small_bigendian.dcm": ACCEPT,
    "MR_small_implicit.dcm": ACCEPT,
    "MR_small_jp2klossless.dcm": ACCEPT,
    "MR_small_jpeg_ls_lossless.dcm": ACCEPT,
    "MR_small_RLE.dcm": ACCEPT,
    "MR_truncated.dcm": "truncated",
    "MR_with_overlay.dcm": ACCEPT,
    "NM_JPEG2000_lossy.dcm": ACCEPT,
    "NM_JPEG_extended_12bit.dcm": ACCEPT,
    "NM_JPEG_lossless_SV1.dcm": ACCEPT,
    "private_SQ_undefined_length.dcm": "missing_uid",
    "PT_jpeg_lossless_GH184.dcm": ACCEPT,
    "rtdose.dcm": "meta_mismatch",
    "rtplan.dcm": "meta_mismatch",
    "rtstruct_no_meta.dcm": "no_file_meta",
    "SC_deflated_image_dfl.dcm": ACCEPT,
    "SC_phi_cookie_image3.dcm": ACCEPT,
    "SC_rgb_HTJ2K_lossless.dcm": "missing_uid",
    "SC_rgb_jpeg_dcmtk.dcm": ACCEPT,
    "SEG_ct_binary.dcm": ACCEPT,
    "SEG_labelmap.dcm": ACCEPT,
    "SEG_liver.dcm": ACCEPT,
    "series_CT2_17106.dcm": ACCEPT,
    "series_CT2_17136.dcm": ACCEPT,
    "series_CT2_17166.dcm": ACCEPT,
    "series_CT2_17196.dcm": ACCEPT,
    "SM_wsi_tiled.dcm": ACCEPT,
    "SR_basic_text.dcm": ACCEPT,
    "SR_comprehensive_dcmtk.dcm": ACCEPT,
    "SR_TID1500_highdicom.dcm": ACCEPT,
    "UN_sequence.dcm": "missing_uid",
    "US1_J2KR.dcm": ACCEPT,
    "US_multiframe_jpeg_ybr.dcm": ACCEPT,
    "US_palette_rle_2frame.dcm": ACCEPT,
    "US_rgb_explicit_bigendian.dcm": ACCEPT,
    "XA1_J2KI.dcm": ACCEPT,
}

LIMITS = IngestLimits()


def test_the_table_covers_every_sample():
    assert sorted(p.name for p in sample_files()) == sorted(EXPECTED), f"samples in {SAMPLES}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_outcome(name):
    expected = EXPECTED[name]
    if expected == ACCEPT:
        parsed = parse_instance(SAMPLES / name, limits=LIMITS)
        assert parsed.size_bytes == (SAMPLES / name).stat().st_size
        assert parsed.preamble_threat is None
        return
    with pytest.raises(IngestRejected) as caught:
        parse_instance(SAMPLES / name, limits=LIMITS)
    assert caught.value.code == expected
    assert isinstance(caught.value.failure_reason, FailureReason)
    assert caught.value.reason.endswith(".")


def parse(name):
    return parse_instance(SAMPLES / name, limits=LIMITS)


def test_ct_small_index_values():
    parsed = parse("CT_small.dcm")
    assert parsed.modality == "CT"
    assert (parsed.rows, parsed.columns, parsed.number_of_frames) == (128, 128, None)
    assert parsed.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert parsed.study_date == datetime.date(2004, 1, 19)
    assert parsed.study_time == datetime.time(7, 27, 30)
    assert parsed.patient_name == "CompressedSamples^CT1"
    # A TIFF header in the preamble is legal (PS3.10 7.5): reported as non-zero, not as a threat.
    assert parsed.preamble_nonzero
    assert parsed.preamble_threat is None


def test_enhanced_mr_has_ten_frames():
    parsed = parse("MR_enhanced_multiframe.dcm")
    assert parsed.number_of_frames == 10
    assert parsed.modality == "MR"


def test_chinese_utf8_name_decodes():
    assert parse("chrX1.dcm").patient_name == "Wang^XiaoDong=王^小東"


def test_chinese_gb18030_name_decodes():
    assert parse("chrX2.dcm").patient_name == "Wang^XiaoDong=王^小东"


def test_japanese_iso2022_name_decodes():
    parsed = parse("chrH31.dcm")
    assert parsed.patient_name == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert not parsed.character_set_fallback


def test_right_to_left_and_latin1_names_decode():
    assert parse("chrHbrw.dcm").patient_name == "שרון^דבורה"
    assert parse("chrFren.dcm").patient_name == "Buc^Jérôme"


def test_deflated_sample_is_read():
    parsed = parse("SC_deflated_image_dfl.dcm")
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    assert (parsed.rows, parsed.columns) == (512, 512)


def test_series_samples_share_study_and_series():
    parsed = [parse(f"series_CT2_{n}.dcm") for n in (17106, 17136, 17166, 17196)]
    assert len({p.study_instance_uid for p in parsed}) == 1
    assert len({p.series_instance_uid for p in parsed}) == 1
    assert len({p.sop_instance_uid for p in parsed}) == 4
    assert sorted(p.instance_number for p in parsed) == [18, 180, 181, 182]


def test_phi_values_never_reach_rejection_reasons():
    with pytest.raises(IngestRejected) as caught:
        parse_instance(SAMPLES / "rtdose.dcm", limits=LIMITS)
    assert "1.9.999.999" not in caught.value.reason
