"""WADO-RS rendered resources and thumbnails (PS3.18 10.4.1.1.3, 8.3.5): JPEG by default, PNG on request,
window, viewport and quality; a clear 406 for what has no image."""

import io

import pydicom
import pytest
from PIL import Image

from accounts.roles import Role
from tests.dicomweb.wado import ingest_sample, instance_path, parts
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import VALID

# SOP classes without an image: reports, waveforms, documents, RT plans and structure sets.
NO_IMAGE = {"ECG_waveform.dcm", "encapsulated_pdf.dcm"} | {name for name in VALID if name.startswith("SR_")}


@pytest.fixture
def reader(tenant, member_factory, client):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    return client


def _has_image(name: str) -> bool:
    return "Rows" in pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)


@pytest.mark.parametrize("name", VALID)
def test_every_accepted_sample_renders_as_jpeg_and_png_or_answers_406(reader, tenant, name):
    ds = ingest_sample(tenant, name)
    path = instance_path(tenant, ds, "/rendered")

    jpeg = reader.get(path)
    png = reader.get(path, HTTP_ACCEPT="image/png")

    if not _has_image(name):
        assert name in NO_IMAGE or not _has_image(name)
        assert (jpeg.status_code, png.status_code) == (406, 406)
        return
    assert (jpeg.status_code, jpeg["Content-Type"]) == (200, "image/jpeg")
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
    assert Image.open(io.BytesIO(png.content)).size == (ds.Columns, ds.Rows)


def test_the_window_changes_the_output(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")
    path = instance_path(tenant, ds, "/rendered")

    narrow = reader.get(path, {"window": "40,80"}, HTTP_ACCEPT="image/png").content
    wide = reader.get(path, {"window": "40,4000,linear"}, HTTP_ACCEPT="image/png").content
    sigmoid = reader.get(path, {"window": "40,80,sigmoid"}, HTTP_ACCEPT="image/png").content

    assert len({narrow, wide, sigmoid}) == 3


def test_viewport_and_quality_shape_the_image(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")
    path = instance_path(tenant, ds, "/rendered")

    small = reader.get(path, {"viewport": "64,32"})
    cropped = reader.get(path, {"viewport": "100,100,0,0,50,50"})
    low = reader.get(path, {"quality": "5"})
    high = reader.get(path, {"quality": "100"})

    assert Image.open(io.BytesIO(small.content)).size == (32, 32)
    assert Image.open(io.BytesIO(cropped.content)).size == (100, 100)
    assert len(low.content) < len(high.content)


@pytest.mark.parametrize(
    "params",
    [{"window": "40"}, {"window": "40,0"}, {"window": "a,b"}, {"viewport": "0,10"}, {"quality": "101"}],
)
def test_malformed_rendering_parameters_answer_400(reader, tenant, params):
    ds = ingest_sample(tenant, "CT_small.dcm")

    assert reader.get(instance_path(tenant, ds, "/rendered"), params).status_code == 400


def test_an_unsupported_rendered_media_type_answers_406(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")

    assert reader.get(instance_path(tenant, ds, "/rendered"), HTTP_ACCEPT="video/mp4").status_code == 406


def test_frames_render_one_by_one(reader, tenant):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")

    one = reader.get(instance_path(tenant, ds, "/frames/2/rendered"))
    two = reader.get(instance_path(tenant, ds, "/frames/1,30/rendered"))
    missing = reader.get(instance_path(tenant, ds, "/frames/31/rendered"))

    assert one["Content-Type"] == "image/jpeg"
    assert [content_type for content_type, _ in parts(two)] == ["image/jpeg", "image/jpeg"]
    assert missing.status_code == 404


def test_a_study_renders_its_images_and_leaves_out_the_rest(reader, tenant):
    series = [ingest_sample(tenant, f"series_CT2_{n}.dcm") for n in (17106, 17136)]
    study = series[0].StudyInstanceUID

    response = reader.get(f"/dicomweb/{tenant.slug}/studies/{study}/rendered", HTTP_ACCEPT="image/png")

    assert [content_type for content_type, _ in parts(response)] == ["image/png", "image/png"]


@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_thumbnails_at_every_level(reader, tenant, level):
    ds = ingest_sample(tenant, "MR_small.dcm")
    path = {
        "study": f"/dicomweb/{tenant.slug}/studies/{ds.StudyInstanceUID}",
        "series": f"/dicomweb/{tenant.slug}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}",
        "instance": instance_path(tenant, ds),
    }[level]

    response = reader.get(path + "/thumbnail", HTTP_ACCEPT="image/png")

    assert response["Content-Type"] == "image/png"
    assert max(Image.open(io.BytesIO(response.content)).size) <= 128


def test_a_report_has_no_thumbnail(reader, tenant):
    ds = ingest_sample(tenant, "SR_basic_text.dcm")

    assert reader.get(instance_path(tenant, ds, "/thumbnail")).status_code == 406
