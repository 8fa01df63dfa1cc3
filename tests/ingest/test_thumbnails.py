"""Series thumbnails: rendered from the encrypted object, stored encrypted, shredded with the study."""

import io

import pytest
from PIL import Image

from imaging.crypto.keys import shred_study_key
from imaging.crypto.providers import KeyManagementError
from imaging.models import Series, SeriesThumbnail
from imaging.thumbnails import make_series_thumbnail, thumbnail_png
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest, stored_bytes

RENDERED = [
    "CT_small.dcm",  # MONOCHROME2, rescaled
    "DX_dog.dcm",  # MONOCHROME1
    "MR_small_jp2klossless.dcm",  # JPEG 2000
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "MR_small_RLE.dcm",  # RLE
    "NM_JPEG_lossless_SV1.dcm",  # JPEG lossless
    "US_multiframe_jpeg_ybr.dcm",  # YBR, multi-frame
    "US_palette_rle_2frame.dcm",  # PALETTE COLOR
    "SC_deflated_image_dfl.dcm",  # deflated data set
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, RGB
    "MR_small_bigendian.dcm",  # big endian
]


def thumbnail_for(tenant, name: str) -> SeriesThumbnail:
    ingest(tenant, SAMPLES / name)
    with tenant_scope(tenant):
        return make_series_thumbnail(Series.objects.get())


@pytest.mark.parametrize("name", RENDERED)
def test_a_thumbnail_is_rendered_for_every_kind_of_image(tenant, name):
    thumbnail = thumbnail_for(tenant, name)

    assert thumbnail.error == ""
    with tenant_scope(tenant):
        image = Image.open(io.BytesIO(thumbnail_png(thumbnail)))
    assert image.format == "PNG" and max(image.size) <= 128


def test_the_thumbnail_is_stored_encrypted(tenant):
    thumbnail_for(tenant, "CT_small.dcm")

    blobs = stored_bytes(tenant)
    assert len(blobs) == 2  # the instance and its series' thumbnail
    assert not any(b"PNG" in blob[:64] or b"DICM" in blob for blob in blobs)


def test_a_report_gets_a_reason_instead_of_a_thumbnail(tenant):
    thumbnail = thumbnail_for(tenant, "SR_basic_text.dcm")

    assert thumbnail.error == "The instance has no image."
    assert thumbnail.storage_name == ""


def test_making_a_thumbnail_twice_keeps_one(tenant):
    first = thumbnail_for(tenant, "CT_small.dcm")

    with tenant_scope(tenant):
        again = make_series_thumbnail(Series.objects.get())
        assert SeriesThumbnail.objects.count() == 1
    assert again.pk == first.pk


def test_shredding_the_study_key_shreds_its_thumbnails(tenant):
    thumbnail = thumbnail_for(tenant, "CT_small.dcm")

    with tenant_scope(tenant):
        shred_study_key(thumbnail.series.study)
        with pytest.raises(KeyManagementError):
            thumbnail_png(SeriesThumbnail.objects.get())
