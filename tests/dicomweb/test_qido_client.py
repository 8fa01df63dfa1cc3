"""QIDO-RS from the `dicomweb-client` package against the live server, over samples ingested as the
worker would (receive, then index), with the client's own parameter styles."""

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient

from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent
from imaging.ingest.index import index_jobs
from imaging.ingest.receive import receive_file
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.ingest.samples import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)

CT_SERIES = [f"series_CT2_{n}.dcm" for n in (17106, 17136, 17166, 17196)]
SAMPLE_NAMES = ["CT_small.dcm", "MR_small.dcm", "CR_small_6154.dcm", "chrGerm.dcm", *CT_SERIES]


def header(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(SAMPLES / name, stop_before_pixels=True)


@pytest.fixture
def corpus(tenant) -> None:
    with tenant_scope(tenant):
        jobs = [receive_file(tenant, SAMPLES / name, source=IngestJob.Source.IMPORT) for name in SAMPLE_NAMES]
        index_jobs(tenant, [str(job.pk) for job in jobs])


def dicomweb(live_server, tenant, member_factory, role=Role.RADIOLOGIST, slug="alpha") -> DICOMwebClient:
    token = issue_token(member_factory(tenant, role), tenant)[1]
    return DICOMwebClient(
        url=f"{live_server.url}/dicomweb/{slug}", headers={"Authorization": f"Bearer {token}"}
    )


def study_uids(results: list[dict]) -> set[str]:
    return {pydicom.Dataset.from_json(item).StudyInstanceUID for item in results}


def test_search_for_studies_returns_every_study_with_its_counts(live_server, tenant, member_factory, corpus):
    results = dicomweb(live_server, tenant, member_factory).search_for_studies()

    assert study_uids(results) == {header(name).StudyInstanceUID for name in SAMPLE_NAMES}
    ct = header(CT_SERIES[0])
    (study,) = [
        pydicom.Dataset.from_json(r) for r in results if r["0020000D"]["Value"] == [ct.StudyInstanceUID]
    ]
    assert study.NumberOfStudyRelatedSeries == 1
    assert study.NumberOfStudyRelatedInstances == 4
    assert study.ModalitiesInStudy == "CT"
    assert str(study.PatientName) == "Doe^Archibald"


def test_search_filters_with_wildcards_and_date_ranges(live_server, tenant, member_factory, corpus):
    client = dicomweb(live_server, tenant, member_factory)

    by_name = client.search_for_studies(search_filters={"PatientName": "doe*"})
    by_date = client.search_for_studies(search_filters={"StudyDate": "20000101-"})
    by_modality = client.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})

    assert study_uids(by_name) == {
        header(CT_SERIES[0]).StudyInstanceUID,
        header("CR_small_6154.dcm").StudyInstanceUID,
    }
    assert study_uids(by_date) == {
        header(name).StudyInstanceUID for name in ("CR_small_6154.dcm", "MR_small.dcm", "CT_small.dcm")
    }
    assert study_uids(by_modality) == {header("MR_small.dcm").StudyInstanceUID}


def test_fuzzy_matching_finds_a_given_name_prefix_with_accents(live_server, tenant, member_factory, corpus):
    client = dicomweb(live_server, tenant, member_factory)

    results = client.search_for_studies(fuzzymatching=True, search_filters={"PatientName": "rüd"})

    assert study_uids(results) == {header("chrGerm.dcm").StudyInstanceUID}


def test_fields_limit_and_offset(live_server, tenant, member_factory, corpus):
    client = dicomweb(live_server, tenant, member_factory)

    first = client.search_for_studies(limit=2, fields=["StudyDescription", "00100021"])
    rest = client.search_for_studies(limit=10, offset=2)

    assert len(first) == 2 and len(rest) == 3
    assert "00100021" in first[0]
    assert study_uids(first).isdisjoint(study_uids(rest))


def test_search_for_series_and_instances_of_a_study(live_server, tenant, member_factory, corpus):
    client = dicomweb(live_server, tenant, member_factory)
    ct = header(CT_SERIES[0])

    series = client.search_for_series(study_instance_uid=ct.StudyInstanceUID)
    instances = client.search_for_instances(
        study_instance_uid=ct.StudyInstanceUID, series_instance_uid=ct.SeriesInstanceUID
    )
    flat = client.search_for_instances(search_filters={"SOPInstanceUID": ct.SOPInstanceUID})

    assert [pydicom.Dataset.from_json(s).NumberOfSeriesRelatedInstances for s in series] == [4]
    assert {pydicom.Dataset.from_json(i).SOPInstanceUID for i in instances} == {
        header(name).SOPInstanceUID for name in CT_SERIES
    }
    assert [pydicom.Dataset.from_json(i).PatientID for i in flat] == ["77654033"]


def test_flat_series_by_modality(live_server, tenant, member_factory, corpus):
    results = dicomweb(live_server, tenant, member_factory).search_for_series(
        search_filters={"Modality": "CR"}
    )

    assert [pydicom.Dataset.from_json(s).SeriesInstanceUID for s in results] == [
        header("CR_small_6154.dcm").SeriesInstanceUID
    ]


def test_a_referring_physician_without_shares_finds_nothing(live_server, tenant, member_factory, corpus):
    client = dicomweb(live_server, tenant, member_factory, Role.REFERRING_PHYSICIAN)

    assert client.search_for_studies() == []
    assert client.search_for_instances() == []


def test_a_token_of_another_clinic_gets_404_and_an_audit_event(
    live_server, tenant, other_tenant, member_factory, corpus
):
    client = dicomweb(live_server, other_tenant, member_factory, slug="alpha")

    with pytest.raises(requests.HTTPError) as failure:
        client.search_for_studies()

    assert failure.value.response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, tenant=tenant).count() == 1
