"""C-GET with dcmtk's getscu: each instance comes back over the same association exactly as stored,
only from the clinic's own studies, with the sub-operation counts of PS3.4 C.4.3 and an audit trail."""

from pathlib import Path

import pytest
from django.conf import settings
from pydicom import dcmread

from audit.models import AuditAction, AuditEvent, Outcome
from imaging.dimse.services import register_remote_ae
from imaging.models import StoredObject
from imaging.objects import plaintext_chunks
from portal.tenancy import tenant_scope
from tests.dimse.query_retrieve import PATIENT_ROOT, STUDY_ROOT, get, ingest_samples, keys
from tests.dimse.test_store import data_set_bytes
from tests.ingest.samples import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# PS3.4 C.4.3.1.4
SUCCESS, NOT_AUTHORIZED, IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0x0000, 0x0124, 0xA900
ARCHIBALD = ("series_CT2_17106.dcm", "series_CT2_17136.dcm", "CR_small_6154.dcm")


@pytest.fixture
def pacs(tenant):
    return register_remote_ae(tenant, "PACS", may_retrieve=True)


@pytest.fixture
def retrieve(scp, pacs, tmp_path):
    """getscu from PACS to the Alpha clinic's AE title, into tmp_path/received."""

    def run(model: str, *options: str, **attributes: str):
        return get(scp.port, "PACS", "ALPHA", model, keys(**attributes), tmp_path / "received", *options)

    return run


def received(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "received"
    return sorted(folder.iterdir()) if folder.exists() else []


# getscu 3.6.7 proposes Explicit VR Little Endian in every context, and Implicit VR Little Endian never
# first: an implicit object goes byte for byte by C-MOVE (test_move.py), by C-GET decoded as below.
@pytest.mark.parametrize(
    ("name", "preference"),
    [
        ("CT_small.dcm", "+xe"),  # Explicit VR Little Endian
        ("US_rgb_explicit_bigendian.dcm", "+xb"),  # Explicit VR Big Endian
        ("NM_JPEG_lossless_SV1.dcm", "+xs"),  # JPEG Lossless SV1
        ("US_palette_rle_2frame.dcm", "+xr"),  # RLE Lossless
        ("MR_small_jp2klossless.dcm", "+xv"),  # JPEG 2000 Lossless
        ("SC_rgb_jpeg_dcmtk.dcm", "+xy"),  # JPEG Baseline
    ],
)
def test_an_instance_comes_back_byte_for_byte_as_stored(tenant, retrieve, tmp_path, name, preference):
    (header,) = ingest_samples(tenant, name)

    answer = retrieve(
        STUDY_ROOT,
        preference,
        QueryRetrieveLevel="IMAGE",
        StudyInstanceUID=header.StudyInstanceUID,
        SeriesInstanceUID=header.SeriesInstanceUID,
        SOPInstanceUID=header.SOPInstanceUID,
    )

    assert answer.status == SUCCESS, answer.output
    assert answer.counts == {"remaining": 0, "completed": 1, "failed": 0, "warning": 0}
    (path,) = received(tmp_path)
    # Over DIMSE only the data set travels; getscu writes File Meta Information of its own (+B keeps
    # the data set as it came). The stored object is the sample with its preamble zeroed.
    original = (SAMPLES / name).read_bytes()
    assert data_set_bytes(path.read_bytes()) == data_set_bytes(original)
    with tenant_scope(tenant):
        (stored,) = StoredObject.objects.all()
        assert data_set_bytes(b"".join(plaintext_chunks(stored))) == data_set_bytes(original)
    meta = dcmread(path).file_meta
    assert meta.TransferSyntaxUID == header.file_meta.TransferSyntaxUID
    assert meta.MediaStorageSOPInstanceUID == header.SOPInstanceUID


def test_a_deflated_data_set_of_odd_length_gets_the_padding_byte_of_ps3_5_a_5(tenant, retrieve, tmp_path):
    (header,) = ingest_samples(tenant, "SC_deflated_image_dfl.dcm")

    answer = retrieve(STUDY_ROOT, "+xd", QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID)

    assert answer.status == SUCCESS, answer.output
    (path,) = received(tmp_path)
    original = data_set_bytes((SAMPLES / "SC_deflated_image_dfl.dcm").read_bytes())
    assert len(original) % 2 == 1
    assert data_set_bytes(path.read_bytes()) == original + b"\0"


def test_an_instance_not_accepted_in_its_stored_syntax_comes_decoded_to_explicit_little_endian(
    tenant, retrieve, tmp_path
):
    (header,) = ingest_samples(tenant, "NM_JPEG_lossless_SV1.dcm")

    # getscu proposes the uncompressed syntaxes only, Explicit VR Little Endian first.
    answer = retrieve(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID)

    assert answer.status == SUCCESS, answer.output
    (path,) = received(tmp_path)
    retrieved = dcmread(path)
    assert retrieved.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (retrieved.pixel_array == dcmread(SAMPLES / "NM_JPEG_lossless_SV1.dcm").pixel_array).all()


def test_a_study_a_series_and_a_patient_come_whole_in_both_models(tenant, retrieve, tmp_path):
    ct, _, cr = ingest_samples(tenant, *ARCHIBALD)

    study = retrieve(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=ct.StudyInstanceUID)
    series = retrieve(
        PATIENT_ROOT,
        QueryRetrieveLevel="SERIES",
        PatientID="77654033",
        StudyInstanceUID=cr.StudyInstanceUID,
        SeriesInstanceUID=cr.SeriesInstanceUID,
    )
    patient = retrieve(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientID="77654033")

    assert [answer.counts["completed"] for answer in (study, series, patient)] == [2, 1, 3]
    assert {answer.status for answer in (study, series, patient)} == {SUCCESS}
    names = {path.name for path in received(tmp_path)}
    assert names == {dcmread(SAMPLES / name, stop_before_pixels=True).SOPInstanceUID for name in ARCHIBALD}


def test_another_clinics_study_retrieves_nothing(tenant, other_tenant, retrieve, tmp_path):
    ingest_samples(tenant, "CT_small.dcm")
    (bravo_only,) = ingest_samples(other_tenant, "encapsulated_pdf.dcm")

    answer = retrieve(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=bravo_only.StudyInstanceUID)

    assert answer.status == SUCCESS
    assert answer.counts["completed"] == 0
    assert received(tmp_path) == []
    (event,) = AuditEvent.objects.filter(action=AuditAction.RETRIEVE)
    assert event.tenant == tenant and event.object_ids == []


def test_a_peer_that_may_not_retrieve_is_refused_not_authorized_and_audited(tenant, scp, tmp_path):
    (header,) = ingest_samples(tenant, "CT_small.dcm")
    register_remote_ae(tenant, "VIEWER", may_query=True)

    answer = get(
        scp.port,
        "VIEWER",
        "ALPHA",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID),
        tmp_path / "received",
    )

    assert answer.status == NOT_AUTHORIZED
    assert received(tmp_path) == []
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.details == {"calling_ae": "VIEWER", "operation": "c_get", "reason": "may_not_retrieve"}
    assert not AuditEvent.objects.filter(action=AuditAction.RETRIEVE).exists()


def test_a_retrieval_without_the_unique_key_of_its_level_is_refused(tenant, retrieve):
    ingest_samples(tenant, "CT_small.dcm")

    answer = retrieve(STUDY_ROOT, QueryRetrieveLevel="SERIES", StudyInstanceUID="1.2.3")

    assert answer.status == IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    assert "SeriesInstanceUID (0020,000E) is required at SERIES level." in answer.output
    failed = AuditEvent.objects.get(action=AuditAction.RETRIEVE)
    assert failed.outcome == Outcome.FAILURE


def test_each_retrieval_is_audited_with_the_instances_before_they_are_sent(tenant, retrieve):
    ct, second_ct, _ = ingest_samples(tenant, *ARCHIBALD)

    retrieve(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=ct.StudyInstanceUID)

    (event,) = AuditEvent.objects.filter(action=AuditAction.RETRIEVE)
    assert event.tenant == tenant and event.actor_role == "remote_ae"
    assert event.object_type == "study"
    assert sorted(event.object_ids) == sorted([ct.SOPInstanceUID, second_ct.SOPInstanceUID])
    assert event.details == {
        "calling_ae": "PACS",
        "service": "c-get",
        "model": "study_root",
        "level": "study",
        "studies": [ct.StudyInstanceUID],
    }


def test_the_scratch_copy_of_a_sent_instance_is_gone_once_sent(tenant, retrieve, tmp_path):
    (header,) = ingest_samples(tenant, "CT_small.dcm")

    retrieve(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID)

    assert len(received(tmp_path)) == 1
    assert not list((Path(settings.VAR_DIR) / "scratch").glob("dimse-*/*"))
