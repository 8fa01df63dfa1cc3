"""STOW-RS from the `dicomweb-client` package, as a script or another archive would send it.

pytest-django's live server speaks WSGI, where a chunked request body never reaches Django (WSGI gives it
no length), so these requests go in one piece; test_stow_asgi sends chunked bodies through uvicorn.
"""

from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient

from accounts.roles import Role
from accounts.tokens import issue_token
from imaging.ingest.errors import FailureReason
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import VALID_SAMPLES
from tests.ingest.samples import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)
NO_CHUNKING = 1 << 40


def dicomweb(live_server, slug: str, token: str) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{live_server.url}/dicomweb/{slug}",
        headers={"Authorization": f"Bearer {token}"},
        chunk_size=NO_CHUNKING,
    )


@pytest.fixture
def client_token(tenant, member_factory) -> str:
    return issue_token(member_factory(tenant, Role.TECHNOLOGIST), tenant)[1]


def test_every_valid_sample_is_stored_in_one_request(live_server, tenant, client_token):
    datasets = [pydicom.dcmread(SAMPLES / name) for name in VALID_SAMPLES]

    result = dicomweb(live_server, "alpha", client_token).store_instances(datasets)

    stored = [item.ReferencedSOPInstanceUID for item in result.ReferencedSOPSequence]
    assert stored == [ds.SOPInstanceUID for ds in datasets]
    assert "FailedSOPSequence" not in result
    with tenant_scope(tenant):
        assert IngestJob.objects.filter(source="stow", state="queued").count() == len(datasets)


def test_a_study_resource_takes_its_own_instances(live_server, tenant, client_token):
    series = [pydicom.dcmread(SAMPLES / f"series_CT2_{n}.dcm") for n in (17106, 17136, 17166, 17196)]
    study_uid = series[0].StudyInstanceUID

    result = dicomweb(live_server, "alpha", client_token).store_instances(
        series, study_instance_uid=study_uid
    )

    assert len(result.ReferencedSOPSequence) == 4
    # dicomweb-client sends a Host header without the port; the URL follows the Host the client sent.
    assert urlsplit(result.RetrieveURL).path == f"/dicomweb/alpha/studies/{study_uid}"


def test_all_failed_reaches_the_client_as_409(live_server, tenant, client_token):
    ds = pydicom.dcmread(SAMPLES / "CT_small.dcm")

    with pytest.raises(requests.HTTPError) as failure:
        dicomweb(live_server, "alpha", client_token).store_instances([ds], study_instance_uid="1.2.3")

    response = failure.value.response
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/dicom+json"
    failed = pydicom.Dataset.from_json(response.json()).FailedSOPSequence
    assert [item.FailureReason for item in failed] == [FailureReason.STUDY_INSTANCE_UID_MISMATCH]


def test_another_clinic_is_404_for_the_client(live_server, tenant, other_tenant, client_token):
    ds = pydicom.dcmread(SAMPLES / "CT_small.dcm")

    with pytest.raises(requests.HTTPError) as failure:
        dicomweb(live_server, "bravo", client_token).store_instances([ds])

    assert failure.value.response.status_code == 404
