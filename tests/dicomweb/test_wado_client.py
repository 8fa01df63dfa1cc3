"""WADO-RS from the `dicomweb-client` package against the live server, as a viewer or archive would ask."""

from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient

from accounts.roles import Role
from accounts.tokens import issue_token
from imaging.ingest.parse import zeroed_preamble_reader
from tests.dicomweb.wado import ingest_sample, instance_path
from tests.ingest.samples import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)
ANY_SYNTAX = (("application/dicom", "*"),)


@pytest.fixture
def dicomweb(live_server, tenant, member_factory) -> DICOMwebClient:
    token = issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)[1]
    return DICOMwebClient(
        url=f"{live_server.url}/dicomweb/{tenant.slug}", headers={"Authorization": f"Bearer {token}"}
    )


def test_an_instance_is_retrieved_as_stored_or_as_explicit_little_endian(dicomweb, tenant):
    ds = ingest_sample(tenant, "CT_phi_ctbrain1.dcm")
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)

    # dicomweb-client asks for transfer-syntax=* unless told otherwise.
    as_stored = dicomweb.retrieve_instance(*uids)
    default = dicomweb.retrieve_instance(*uids, media_types=("application/dicom",))

    assert as_stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert default.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert default.pixel_array.shape == as_stored.pixel_array.shape


def test_retrieval_with_any_syntax_is_byte_identical(dicomweb, live_server, tenant):
    ds = ingest_sample(tenant, "MR_small_RLE.dcm")
    url = f"{live_server.url}{instance_path(tenant, ds)}"

    response = dicomweb._http_get(
        url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
    )
    (part,) = dicomweb._decode_multipart_message(response, stream=False)

    with zeroed_preamble_reader(SAMPLES / "MR_small_RLE.dcm") as original:
        assert part == original.read()


def test_series_and_study_retrieval(dicomweb, tenant):
    datasets = [ingest_sample(tenant, f"series_CT2_{n}.dcm") for n in (17106, 17136, 17166, 17196)]
    study, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID

    in_series = dicomweb.retrieve_series(study, series, media_types=ANY_SYNTAX)
    in_study = dicomweb.retrieve_study(study)

    expected = sorted(ds.SOPInstanceUID for ds in datasets)
    assert sorted(ds.SOPInstanceUID for ds in in_series) == expected
    assert sorted(ds.SOPInstanceUID for ds in in_study) == expected


def test_metadata_and_bulk_data(dicomweb, live_server, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")

    metadata = dicomweb.retrieve_instance_metadata(
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    )
    study_metadata = dicomweb.retrieve_study_metadata(ds.StudyInstanceUID)
    # dicomweb-client sends its Host header without the port, so absolute URLs lose it: keep the path.
    bulk_path = urlsplit(metadata["7FE00010"]["BulkDataURI"]).path
    (pixels,) = dicomweb.retrieve_bulkdata(live_server.url + bulk_path)

    assert pydicom.Dataset.from_json(metadata).SOPInstanceUID == ds.SOPInstanceUID
    assert len(study_metadata) == 1
    assert pixels == pydicom.dcmread(SAMPLES / "CT_small.dcm").PixelData


def test_frames_as_stored_and_decoded(dicomweb, tenant):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)

    jpeg = dicomweb.retrieve_instance_frames(*uids, frame_numbers=[1, 2])
    native = dicomweb.retrieve_instance_frames(
        *uids, frame_numbers=[30], media_types=("application/octet-stream",)
    )

    assert [frame[:2] for frame in jpeg] == [b"\xff\xd8", b"\xff\xd8"]
    assert len(native[0]) == ds.Rows * ds.Columns * 3


def test_rendered_instance_as_jpeg_and_png(dicomweb, tenant):
    ds = ingest_sample(tenant, "MR_small.dcm")
    uids = (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)

    jpeg = dicomweb.retrieve_instance_rendered(*uids, media_types=("image/jpeg",), params={"quality": 80})
    png = dicomweb.retrieve_instance_rendered(
        *uids, media_types=("image/png",), params={"window": "600,1600"}
    )

    assert jpeg.startswith(b"\xff\xd8")
    assert png.startswith(b"\x89PNG")


def test_another_clinics_study_is_404_for_the_client(dicomweb, other_tenant):
    ds = ingest_sample(other_tenant, "CT_small.dcm")

    with pytest.raises(requests.HTTPError) as failure:
        dicomweb.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)

    assert failure.value.response.status_code == 404
