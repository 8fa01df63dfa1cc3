"""C-MOVE with dcmtk's movescu, to dcmtk's storescp as the destination: only to a destination the
clinic registered (at its registered address), each instance byte for byte as stored, with the
statuses and sub-operation counts of PS3.4 C.4.2 and an audit trail."""

import io
from pathlib import Path

import pytest
from pydicom import dcmread

from audit.models import AuditAction, AuditEvent
from imaging.dimse.services import register_remote_ae
from imaging.models import RemoteAE
from portal.tenancy import tenant_scope
from tests.dimse.query_retrieve import PATIENT_ROOT, STUDY_ROOT, ingest_samples, keys, move, storescp
from tests.dimse.test_store import data_set_bytes
from tests.ingest.samples import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# PS3.4 C.4.2.1.5
SUCCESS, WARNING, NOT_AUTHORIZED, MOVE_DESTINATION_UNKNOWN = 0x0000, 0xB000, 0x0124, 0xA801
# One per transfer syntax class: stored as each is, each must arrive as it is.
SAMPLES_BY_SYNTAX = (
    "CT_small.dcm",  # Explicit VR Little Endian
    "SEG_ct_binary.dcm",  # Implicit VR Little Endian
    "US_rgb_explicit_bigendian.dcm",  # Explicit VR Big Endian
    "NM_JPEG_lossless_SV1.dcm",  # JPEG Lossless SV1
    "US_palette_rle_2frame.dcm",  # RLE Lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 Lossless
)


@pytest.fixture
def pacs(tenant):
    return register_remote_ae(tenant, "PACS", may_retrieve=True)


@pytest.fixture
def destination(tenant, tmp_path):
    """dcmtk's storescp, registered as the Alpha clinic's peer WORKSTATION with its address and port;
    what it receives is in tmp_path/received."""
    with storescp("WORKSTATION", tmp_path / "received") as port:
        register_remote_ae(tenant, "WORKSTATION", host="127.0.0.1", port=port)
        yield tmp_path / "received"


def received(folder: Path) -> dict[str, bytes]:
    """Each file storescp wrote, by SOP Instance UID."""
    return {str(dcmread(path).SOPInstanceUID): path.read_bytes() for path in folder.iterdir()}


def study_uids(headers) -> str:
    return "\\".join(dict.fromkeys(header.StudyInstanceUID for header in headers))


def test_every_instance_arrives_at_the_destination_byte_for_byte_as_stored(tenant, scp, pacs, destination):
    headers = ingest_samples(tenant, *SAMPLES_BY_SYNTAX)

    answer = move(
        scp.port,
        "PACS",
        "ALPHA",
        "WORKSTATION",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=study_uids(headers)),
    )

    assert answer.status == SUCCESS, answer.output
    assert answer.counts == {"remaining": 0, "completed": 6, "failed": 0, "warning": 0}
    files = received(destination)
    assert sorted(files) == sorted(str(header.SOPInstanceUID) for header in headers)
    for name, header in zip(SAMPLES_BY_SYNTAX, headers, strict=True):
        # Only the data set travels; storescp writes File Meta Information of its own (+B keeps the
        # data set as it came). The stored object is the sample with its preamble zeroed.
        arrived = files[str(header.SOPInstanceUID)]
        assert data_set_bytes(arrived) == data_set_bytes((SAMPLES / name).read_bytes()), name
        assert dcmread(io.BytesIO(arrived)).file_meta.TransferSyntaxUID == header.file_meta.TransferSyntaxUID


def test_a_patient_moves_whole_in_the_patient_root_model(tenant, scp, pacs, destination):
    headers = ingest_samples(tenant, "series_CT2_17106.dcm", "series_CT2_17136.dcm", "CR_small_6154.dcm")

    answer = move(
        scp.port,
        "PACS",
        "ALPHA",
        "WORKSTATION",
        PATIENT_ROOT,
        keys(QueryRetrieveLevel="PATIENT", PatientID="77654033"),
    )

    assert answer.status == SUCCESS
    assert answer.counts["completed"] == 3
    assert sorted(received(destination)) == sorted(str(header.SOPInstanceUID) for header in headers)


@pytest.mark.parametrize(
    "registration",
    ["none", "no_port", "inactive", "other_clinic"],
)
def test_a_destination_the_clinic_has_not_registered_with_its_address_is_unknown(
    tenant, other_tenant, scp, pacs, registration
):
    (header,) = ingest_samples(tenant, "CT_small.dcm")
    if registration == "no_port":
        register_remote_ae(tenant, "ELSEWHERE", host="127.0.0.1")
    elif registration == "inactive":
        register_remote_ae(tenant, "ELSEWHERE", host="127.0.0.1", port=104)
        with tenant_scope(tenant):
            RemoteAE.objects.filter(ae_title="ELSEWHERE").update(is_active=False)
    elif registration == "other_clinic":
        register_remote_ae(other_tenant, "ELSEWHERE", host="127.0.0.1", port=104)

    answer = move(
        scp.port,
        "PACS",
        "ALPHA",
        "ELSEWHERE",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID),
    )

    assert answer.status == MOVE_DESTINATION_UNKNOWN
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.tenant == tenant
    assert denied.details == {
        "calling_ae": "PACS",
        "operation": "c_move",
        "reason": "unknown_move_destination",
        "destination_ae": "ELSEWHERE",
    }
    assert not AuditEvent.objects.filter(action=AuditAction.RETRIEVE).exists()


def test_a_peer_that_may_not_retrieve_is_refused_and_nothing_is_sent(tenant, scp, destination):
    (header,) = ingest_samples(tenant, "CT_small.dcm")
    register_remote_ae(tenant, "VIEWER", may_query=True)

    answer = move(
        scp.port,
        "VIEWER",
        "ALPHA",
        "WORKSTATION",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID),
    )

    assert answer.status == NOT_AUTHORIZED
    assert received(destination) == {}
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.details == {"calling_ae": "VIEWER", "operation": "c_move", "reason": "may_not_retrieve"}


def test_an_instance_the_destination_accepts_in_no_usable_syntax_fails_and_the_rest_arrive(
    tenant, scp, pacs, tmp_path
):
    implicit, jpeg = ingest_samples(tenant, "SEG_ct_binary.dcm", "NM_JPEG_lossless_SV1.dcm")
    # storescp +xi accepts Implicit VR Little Endian only: not the JPEG object's syntax, nor the
    # Explicit VR Little Endian it could be decoded to.
    with storescp("WORKSTATION", tmp_path / "received", "+xi") as port:
        register_remote_ae(tenant, "WORKSTATION", host="127.0.0.1", port=port)
        answer = move(
            scp.port,
            "PACS",
            "ALPHA",
            "WORKSTATION",
            STUDY_ROOT,
            keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=study_uids([implicit, jpeg])),
        )

    # PS3.4 C.4.2.1.5: Warning, sub-operations complete with one or more failures.
    assert answer.status == WARNING
    assert (answer.counts["completed"], answer.counts["failed"]) == (1, 1)
    assert jpeg.SOPInstanceUID in answer.output  # the Failed SOP Instance UID List
    assert sorted(received(tmp_path / "received")) == [implicit.SOPInstanceUID]


def test_another_clinics_study_moves_nothing(tenant, other_tenant, scp, pacs, destination):
    ingest_samples(tenant, "CT_small.dcm")
    (bravo_only,) = ingest_samples(other_tenant, "encapsulated_pdf.dcm")

    answer = move(
        scp.port,
        "PACS",
        "ALPHA",
        "WORKSTATION",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=bravo_only.StudyInstanceUID),
    )

    assert answer.status == SUCCESS
    assert answer.counts["completed"] == 0
    assert received(destination) == {}


def test_each_move_is_audited_with_its_destination(tenant, scp, pacs, destination):
    (header,) = ingest_samples(tenant, "CT_small.dcm")

    move(
        scp.port,
        "PACS",
        "ALPHA",
        "WORKSTATION",
        STUDY_ROOT,
        keys(QueryRetrieveLevel="STUDY", StudyInstanceUID=header.StudyInstanceUID),
    )

    (event,) = AuditEvent.objects.filter(action=AuditAction.RETRIEVE)
    assert event.tenant == tenant and event.object_ids == [header.SOPInstanceUID]
    assert event.details == {
        "calling_ae": "PACS",
        "service": "c-move",
        "model": "study_root",
        "destination_ae": "WORKSTATION",
        "level": "study",
        "studies": [header.StudyInstanceUID],
    }
