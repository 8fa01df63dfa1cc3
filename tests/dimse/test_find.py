"""C-FIND in the Patient Root and Study Root models, driven with dcmtk's findscu: the index and the
matching of QIDO-RS, only the clinic's own studies, refusals and the audit trail."""

import json
from dataclasses import dataclass

import pytest
from pydicom import Dataset

from audit.models import AuditAction, AuditEvent, Outcome
from imaging.dimse.services import register_remote_ae
from tests.dimse.query_retrieve import PATIENT_ROOT, STUDY_ROOT, find, ingest_samples, keys

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# PS3.4 C.4.1.1.4
SUCCESS, NOT_AUTHORIZED, IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0x0000, 0x0124, 0xA900
ARCHIBALD = "77654033"  # two studies: CT (two instances) in 1995, CR (one) in 2001


@dataclass
class Index:
    archibald_ct: Dataset
    archibald_cr: Dataset
    ct: Dataset
    mr: Dataset
    dog: Dataset
    french: Dataset


@pytest.fixture
def index(tenant) -> Index:
    ct_1, _, cr, ct, mr, dog, french = ingest_samples(
        tenant,
        "series_CT2_17106.dcm",
        "series_CT2_17136.dcm",
        "CR_small_6154.dcm",
        "CT_small.dcm",
        "MR_small.dcm",
        "DX_dog.dcm",
        "chrFren.dcm",
    )
    return Index(ct_1, cr, ct, mr, dog, french)


@pytest.fixture
def pacs(tenant):
    return register_remote_ae(tenant, "PACS", may_query=True)


@pytest.fixture
def query(scp, pacs, tmp_path):
    """findscu from PACS to the Alpha clinic's AE title."""

    def run(model: str, **attributes: str):
        return find(scp.port, "PACS", "ALPHA", model, keys(**attributes), tmp_path / "responses")

    return run


def test_a_wildcard_name_finds_the_patients_studies_with_the_keys_asked_for(index, query):
    answer = query(
        STUDY_ROOT, QueryRetrieveLevel="STUDY", PatientName="doe*", StudyDate="", ModalitiesInStudy=""
    )

    assert answer.status == SUCCESS
    assert answer.values("StudyInstanceUID") == sorted(
        [index.archibald_ct.StudyInstanceUID, index.archibald_cr.StudyInstanceUID]
    )
    assert answer.values("StudyDate") == ["19950903", "20010101"]
    assert answer.values("ModalitiesInStudy") == ["CR", "CT"]
    for response in answer.responses:
        assert response.QueryRetrieveLevel == "STUDY"
        assert response.RetrieveAETitle == "ALPHA"
        assert response.PatientName == "Doe^Archibald"
    assert "0xff00: Pending" in answer.output


def test_a_date_range_and_a_list_of_uids_match_as_in_qido(index, query):
    in_2004 = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyDate="20040101-20041231")
    listed = query(
        STUDY_ROOT,
        QueryRetrieveLevel="STUDY",
        StudyInstanceUID=f"{index.dog.StudyInstanceUID}\\{index.french.StudyInstanceUID}",
    )
    open_ended = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyDate="20100101-")

    assert in_2004.values("StudyInstanceUID") == sorted(
        [index.ct.StudyInstanceUID, index.mr.StudyInstanceUID]
    )
    assert listed.values("StudyInstanceUID") == sorted(
        [index.dog.StudyInstanceUID, index.french.StudyInstanceUID]
    )
    assert open_ended.values("StudyInstanceUID") == [index.dog.StudyInstanceUID]


def test_the_patient_level_groups_studies_by_patient_with_their_counts(index, query):
    answer = query(
        PATIENT_ROOT,
        QueryRetrieveLevel="PATIENT",
        PatientID="",
        PatientName="",
        PatientBirthDate="",
        PatientSex="",
        NumberOfPatientRelatedStudies="",
        NumberOfPatientRelatedSeries="",
        NumberOfPatientRelatedInstances="",
    )

    assert answer.status == SUCCESS
    patients = {response.PatientID: response for response in answer.responses}
    assert sorted(patients) == sorted(["77654033", "1CT1", "4MR1", "123456", "SCSFREN"])
    archibald = patients[ARCHIBALD]
    assert (
        archibald.NumberOfPatientRelatedStudies,
        archibald.NumberOfPatientRelatedSeries,
        archibald.NumberOfPatientRelatedInstances,
    ) == (2, 2, 3)
    assert (patients["123456"].PatientBirthDate, patients["123456"].PatientSex) == ("20140422", "F")
    assert {response.QueryRetrieveLevel for response in answer.responses} == {"PATIENT"}


def test_patient_level_keys_match_with_wildcards_and_ranges(index, query):
    by_name = query(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientName="D*", PatientID="")
    by_birth = query(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientBirthDate="20140101-20141231")

    assert by_name.values("PatientID") == sorted(["77654033", "123456"])
    assert by_birth.values("PatientID") == ["123456"]


def test_series_and_image_levels_in_both_models(index, query):
    study = index.archibald_ct.StudyInstanceUID
    series = query(
        STUDY_ROOT,
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID=study,
        Modality="",
        NumberOfSeriesRelatedInstances="",
    )
    images = query(
        STUDY_ROOT,
        QueryRetrieveLevel="IMAGE",
        StudyInstanceUID=study,
        SeriesInstanceUID=index.archibald_ct.SeriesInstanceUID,
        InstanceNumber="",
    )
    patient_images = query(PATIENT_ROOT, QueryRetrieveLevel="IMAGE", PatientID=ARCHIBALD, SOPClassUID="")
    patient_series = query(PATIENT_ROOT, QueryRetrieveLevel="SERIES", PatientID=ARCHIBALD, Modality="C?")

    assert series.values("SeriesInstanceUID") == [index.archibald_ct.SeriesInstanceUID]
    assert (series.responses[0].Modality, series.responses[0].NumberOfSeriesRelatedInstances) == ("CT", 2)
    assert len(images.responses) == 2
    assert {response.QueryRetrieveLevel for response in images.responses} == {"IMAGE"}
    assert all(response.StudyInstanceUID == study for response in images.responses)
    assert len(patient_images.responses) == 3
    # Patient Root answers carry the patient's unique key at every level.
    assert {response.PatientID for response in patient_images.responses} == {ARCHIBALD}
    assert patient_series.values("Modality") == ["CR", "CT"]


def test_keys_the_index_does_not_hold_come_back_empty_with_a_warning_status(index, query):
    answer = query(
        STUDY_ROOT,
        QueryRetrieveLevel="STUDY",
        PatientName="Doe*",
        PatientAge="",
        AdmittingDiagnosesDescription="",
    )

    assert answer.status == SUCCESS
    assert len(answer.responses) == 2
    for response in answer.responses:
        assert response.PatientAge == "" and response.AdmittingDiagnosesDescription == ""
    # PS3.4 C.4.1.1.4: Pending 0xFF01, optional keys not supported.
    assert "0xff01" in answer.output


def test_names_outside_ascii_come_back_in_utf8(index, query):
    answer = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", PatientName="Buc*")

    (response,) = answer.responses
    assert response.SpecificCharacterSet == "ISO_IR 192"
    assert str(response.PatientName) == "Buc^Jérôme"


def test_another_clinics_studies_are_never_found(index, other_tenant, query, scp, tmp_path):
    # The same study in both clinics, and one that only Bravo has.
    (bravo_only, bravo_ct) = ingest_samples(other_tenant, "encapsulated_pdf.dcm", "CT_small.dcm")
    register_remote_ae(other_tenant, "PACS", may_query=True)

    everything = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", PatientName="")
    by_uid = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyInstanceUID=bravo_only.StudyInstanceUID)
    patients = query(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientName="CARDIO")
    from_bravo = find(
        scp.port, "PACS", "BRAVO", STUDY_ROOT, keys(QueryRetrieveLevel="STUDY"), tmp_path / "bravo"
    )

    assert bravo_only.StudyInstanceUID not in everything.values("StudyInstanceUID")
    assert len(everything.responses) == 6
    assert by_uid.responses == [] and by_uid.status == SUCCESS
    assert patients.responses == []
    assert from_bravo.values("StudyInstanceUID") == sorted(
        [bravo_only.StudyInstanceUID, bravo_ct.StudyInstanceUID]
    )
    assert from_bravo.responses[0].RetrieveAETitle == "BRAVO"


def test_a_peer_that_may_not_query_is_refused_not_authorized_and_audited(index, scp, tenant, tmp_path):
    modality = register_remote_ae(tenant, "MODALITY1")

    answer = find(
        scp.port, "MODALITY1", "ALPHA", STUDY_ROOT, keys(QueryRetrieveLevel="STUDY"), tmp_path / "responses"
    )

    assert answer.status == NOT_AUTHORIZED
    assert answer.responses == []
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.tenant == tenant and denied.outcome == Outcome.FAILURE
    assert denied.details == {"calling_ae": "MODALITY1", "operation": "c_find", "reason": "may_not_query"}
    assert denied.actor_role == "remote_ae" and denied.source_address == "127.0.0.1"
    assert not AuditEvent.objects.filter(action=AuditAction.QUERY).exists()
    assert modality.may_query is False


@pytest.mark.parametrize(
    ("model", "level"), [(STUDY_ROOT, "PATIENT"), (PATIENT_ROOT, "WARD"), (STUDY_ROOT, "")]
)
def test_a_level_outside_the_information_model_is_refused(index, query, model, level):
    answer = query(model, QueryRetrieveLevel=level)

    assert answer.status == IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    assert "Query/Retrieve Level (0008,0052) must be one of" in answer.output
    failed = AuditEvent.objects.get(action=AuditAction.QUERY)
    assert failed.outcome == Outcome.FAILURE


def test_a_value_that_cannot_be_matched_is_refused_naming_the_attribute(index, query):
    answer = query(STUDY_ROOT, QueryRetrieveLevel="STUDY", StudyDate="last week")

    assert answer.status == IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
    assert "StudyDate (00080020) takes a date" in answer.output
    assert "last week" not in json.dumps(list(AuditEvent.objects.values("details")))


def test_each_query_is_audited_with_identifiers_never_the_values_searched_for(index, query, tenant):
    query(STUDY_ROOT, QueryRetrieveLevel="STUDY", PatientName="Doe*", PatientBirthDate="")
    query(PATIENT_ROOT, QueryRetrieveLevel="PATIENT", PatientID=ARCHIBALD)

    studies, patients = AuditEvent.objects.filter(action=AuditAction.QUERY).order_by("id")
    assert studies.tenant == tenant and studies.actor_role == "remote_ae"
    assert studies.object_type == "study"
    assert sorted(studies.object_ids) == sorted(
        [index.archibald_ct.StudyInstanceUID, index.archibald_cr.StudyInstanceUID]
    )
    assert studies.details == {
        "calling_ae": "PACS",
        "service": "c-find",
        "model": "study_root",
        "level": "study",
        "results": 2,
        "keys": ["00100010"],
    }
    assert patients.object_type == "patient" and len(patients.object_ids) == 1
    assert patients.details["keys"] == ["00100020"]
    recorded = json.dumps(list(AuditEvent.objects.values("object_ids", "details")))
    for value in ("Doe", "Archibald", ARCHIBALD):
        assert value not in recorded
