"""WADO-RS retrieval of instances, metadata, frames and bulk data through Django (PS3.18 10.4)."""

import io
import json

import pydicom
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.ingest.parse import zeroed_preamble_reader
from imaging.models import Patient
from portal.tenancy import tenant_scope
from tests.dicomweb.wado import ALL_SYNTAXES, body, ingest_sample, instance_path, parts
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import VALID, ingest

EXPLICIT_LE = "1.2.840.10008.1.2.1"


@pytest.fixture
def reader(tenant, member_factory, client):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    return client


@pytest.mark.parametrize("name", VALID)
def test_an_instance_retrieved_with_any_transfer_syntax_is_byte_identical_to_what_was_stored(
    reader, tenant, name
):
    ds = ingest_sample(tenant, name)

    response = reader.get(instance_path(tenant, ds), HTTP_ACCEPT=ALL_SYNTAXES)

    assert response.status_code == 200
    ((content_type, content),) = parts(response)
    with zeroed_preamble_reader(SAMPLES / name) as original:
        assert content == original.read()
    assert content_type == f"application/dicom; transfer-syntax={ds.file_meta.TransferSyntaxUID}"
    assert response["Cache-Control"] == "no-store"


def test_the_default_request_transcodes_a_compressed_instance_to_explicit_vr_little_endian(reader, tenant):
    ds = ingest_sample(tenant, "MR_small_RLE.dcm")

    response = reader.get(
        instance_path(tenant, ds), HTTP_ACCEPT='multipart/related; type="application/dicom"'
    )

    ((content_type, content),) = parts(response)
    retrieved = pydicom.dcmread(io.BytesIO(content))
    assert content_type.endswith(EXPLICIT_LE)
    assert retrieved.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert (retrieved.pixel_array == pydicom.dcmread(SAMPLES / "MR_small_RLE.dcm").pixel_array).all()


@pytest.mark.parametrize("name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_the_default_request_rewrites_other_native_syntaxes_as_explicit_little_endian(reader, tenant, name):
    ds = ingest_sample(tenant, name)

    ((_, content),) = parts(reader.get(instance_path(tenant, ds)))

    retrieved = pydicom.dcmread(io.BytesIO(content))
    assert retrieved.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert (retrieved.pixel_array == pydicom.dcmread(SAMPLES / name).pixel_array).all()


def test_a_series_and_a_study_come_as_one_part_per_instance(reader, tenant):
    names = [f"series_CT2_{n}.dcm" for n in (17106, 17136, 17166, 17196)]
    datasets = [ingest_sample(tenant, name) for name in names]
    study, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID

    series_parts = parts(reader.get(f"/dicomweb/{tenant.slug}/studies/{study}/series/{series}"))
    study_parts = parts(reader.get(f"/dicomweb/{tenant.slug}/studies/{study}"))

    expected = sorted(ds.SOPInstanceUID for ds in datasets)
    for found in (series_parts, study_parts):
        assert sorted(pydicom.dcmread(io.BytesIO(c)).SOPInstanceUID for _, c in found) == expected


def test_an_instance_kept_in_two_versions_is_retrieved_as_its_newest_at_every_level(reader, tenant):
    ingest_sample(tenant, "MR_small.dcm")
    # The same SOP Instance UID with other bytes: kept as version 2 (imaging/ingest/index.py).
    assert ingest(tenant, SAMPLES / "MR_small_implicit.dcm").state == "new_version"
    newest = pydicom.dcmread(SAMPLES / "MR_small_implicit.dcm", stop_before_pixels=True)
    study, series = newest.StudyInstanceUID, newest.SeriesInstanceUID
    paths = [
        f"/dicomweb/{tenant.slug}/studies/{study}",
        f"/dicomweb/{tenant.slug}/studies/{study}/series/{series}",
        instance_path(tenant, newest),
    ]

    with zeroed_preamble_reader(SAMPLES / "MR_small_implicit.dcm") as original:
        expected = original.read()
    for path in paths:
        assert parts(reader.get(path, HTTP_ACCEPT=ALL_SYNTAXES)) == [
            (f"application/dicom; transfer-syntax={newest.file_meta.TransferSyntaxUID}", expected)
        ]


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/pdf"',
        "application/json",
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90',
    ],
)
def test_an_unacceptable_representation_answers_406(reader, tenant, accept):
    ds = ingest_sample(tenant, "CT_small.dcm")

    assert reader.get(instance_path(tenant, ds), HTTP_ACCEPT=accept).status_code == 406


def test_metadata_is_dicom_json_with_a_bulk_data_uri_for_pixel_data(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")

    response = reader.get(instance_path(tenant, ds, "/metadata"))

    assert response["Content-Type"] == "application/dicom+json"
    (item,) = json.loads(body(response))
    assert item["00080018"]["Value"] == [ds.SOPInstanceUID]
    assert item["7FE00010"]["BulkDataURI"].endswith(instance_path(tenant, ds, "/bulkdata/7FE00010"))
    assert "InlineBinary" not in item["7FE00010"]


def test_study_metadata_lists_every_instance(reader, tenant):
    datasets = [ingest_sample(tenant, f"series_CT2_{n}.dcm") for n in (17106, 17136)]

    response = reader.get(f"/dicomweb/{tenant.slug}/studies/{datasets[0].StudyInstanceUID}/metadata")

    assert len(json.loads(body(response))) == 2


def test_native_frames_are_the_stored_pixels_as_octet_stream(reader, tenant):
    ds = ingest_sample(tenant, "SEG_labelmap.dcm")
    full = pydicom.dcmread(SAMPLES / "SEG_labelmap.dcm")
    frame_bytes = full.Rows * full.Columns * full.BitsAllocated // 8

    response = reader.get(instance_path(tenant, ds, "/frames/2,20"))

    assert response.status_code == 200
    (first, last) = parts(response)
    assert first == (
        f"application/octet-stream; transfer-syntax={EXPLICIT_LE}",
        full.PixelData[frame_bytes : 2 * frame_bytes],
    )
    assert last[1] == full.PixelData[19 * frame_bytes : 20 * frame_bytes]


def test_compressed_frames_go_as_stored_or_decoded_on_request(reader, tenant):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")
    path = instance_path(tenant, ds, "/frames/3")

    ((stored_type, stored),) = parts(reader.get(path, HTTP_ACCEPT='multipart/related; type="image/jpeg"'))
    ((native_type, native),) = parts(
        reader.get(path, HTTP_ACCEPT='multipart/related; type="application/octet-stream"')
    )

    assert stored_type == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert stored.startswith(b"\xff\xd8")
    assert native_type == f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
    assert len(native) == ds.Rows * ds.Columns * 3


@pytest.mark.parametrize(("frames", "status"), [("31", 404), ("0", 400), ("1,x", 400), ("", 404)])
def test_frame_numbers_out_of_range_are_404_and_malformed_ones_400(reader, tenant, frames, status):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")

    assert reader.get(instance_path(tenant, ds, f"/frames/{frames}")).status_code == status


def test_an_instance_without_pixels_has_no_frames(reader, tenant):
    ds = ingest_sample(tenant, "SR_basic_text.dcm")

    assert reader.get(instance_path(tenant, ds, "/frames/1")).status_code == 406


def test_bulkdata_returns_the_value_bytes(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")
    full = pydicom.dcmread(SAMPLES / "CT_small.dcm")

    ((content_type, content),) = parts(reader.get(instance_path(tenant, ds, "/bulkdata/7FE00010")))

    assert content_type.startswith("application/octet-stream")
    assert content == full.PixelData


def test_a_retrieval_is_audited_with_uids_before_the_body_is_read(reader, tenant):
    ds = ingest_sample(tenant, "CT_small.dcm")

    response = reader.get(instance_path(tenant, ds))

    event = AuditEvent.objects.get(action=AuditAction.RETRIEVE)
    assert event.object_ids == [ds.SOPInstanceUID]
    assert event.details["study"] == ds.StudyInstanceUID
    body(response)


@pytest.mark.parametrize(
    "suffix", ["", "/metadata", "/frames/1", "/rendered", "/thumbnail", "/bulkdata/7FE00010"]
)
def test_another_clinics_instance_and_a_study_without_rights_are_404_and_audited(
    client, tenant, other_tenant, member_factory, suffix
):
    ours = ingest_sample(tenant, "CT_small.dcm")
    theirs = ingest_sample(other_tenant, "MR_small.dcm")
    client.force_login(member_factory(tenant, Role.BILLING))
    missing = client.get(instance_path(tenant, ours, suffix).replace(ours.StudyInstanceUID, "1.2.3"))

    not_visible = client.get(instance_path(tenant, ours, suffix))
    other_clinic = client.get(instance_path(other_tenant, theirs, suffix))
    by_uid_here = client.get(instance_path(tenant, theirs, suffix))

    for response in (not_visible, other_clinic, by_uid_here):
        assert response.status_code == 404
        assert response.content == missing.content
    reasons = [e.details["reason"] for e in AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED)]
    assert sorted(reasons) == ["not_found", "not_found", "not_member", "not_visible"]
    assert not AuditEvent.objects.filter(action=AuditAction.RETRIEVE).exists()


def test_a_patient_retrieves_their_own_study_only(client, tenant, member_factory):
    ds = ingest_sample(tenant, "CT_small.dcm")
    patient = member_factory(tenant, Role.PATIENT)
    client.force_login(patient)

    assert client.get(instance_path(tenant, ds)).status_code == 404

    with tenant_scope(tenant):
        Patient.objects.update(account=patient)
    assert client.get(instance_path(tenant, ds)).status_code == 200


def test_a_post_to_the_study_resource_still_goes_to_stow_rs(reader, tenant):
    url = reverse("dicomweb-stow-study", args=[tenant.slug, "1.2.3"])

    # STOW-RS answers a body that is not multipart/related with 415 (PS3.18 10.5.2).
    assert reader.post(url, data=b"x", content_type="text/plain").status_code == 415


def test_retrieving_a_study_costs_the_same_queries_whatever_its_size(
    reader, tenant, django_assert_max_num_queries
):
    """One query for all the stored objects and one study key per request, not one per instance (N+1);
    the body, read outside of the tenant's scope, reads no database at all."""
    one = ingest_sample(tenant, "CT_small.dcm")
    datasets = [ingest_sample(tenant, f"series_CT2_{n}.dcm") for n in (17106, 17136, 17166, 17196)]
    with CaptureQueriesContext(connection) as single:
        assert len(parts(reader.get(f"/dicomweb/{tenant.slug}/studies/{one.StudyInstanceUID}"))) == 1

    # Authentication, the policy and the audit chain take their part; WADO-RS 4 (study, instances,
    # stored objects, study key). The cap leaves room for the first, not for one query per instance.
    with django_assert_max_num_queries(min(len(single.captured_queries), 20)):
        response = reader.get(f"/dicomweb/{tenant.slug}/studies/{datasets[0].StudyInstanceUID}")
        assert len(parts(response)) == len(datasets)


def test_a_frame_reads_its_instance_and_stored_object_in_one_query(reader, tenant):
    ds = ingest_sample(tenant, "US_multiframe_jpeg_ybr.dcm")

    with CaptureQueriesContext(connection) as queries:
        assert reader.get(instance_path(tenant, ds, "/frames/1")).status_code == 200

    imaging = [q["sql"] for q in queries.captured_queries if '"imaging_' in q["sql"].split(" WHERE ")[0]]
    assert len(imaging) == 2  # the stored object with its instance, series and study; the study key
