"""STOW-RS from the `dicomweb-client` package is refused while the clinic's agreements are not in force."""

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient

from accounts.roles import Role
from accounts.tokens import issue_token
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.agreements.conftest import (
    accept_all,
    assert_nothing_stored,
    assert_refusal_recorded,
    expire_all,
    refusals,
    scratch_files,
)
from tests.factories import TenantFactory
from tests.ingest.samples import SAMPLES

pytestmark = pytest.mark.django_db(transaction=True)
NO_CHUNKING = 1 << 40


@pytest.fixture
def token(tenant, member_factory) -> str:
    return issue_token(member_factory(tenant, Role.TECHNOLOGIST), tenant)[1]


def dicomweb(live_server, slug: str, token: str) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{live_server.url}/dicomweb/{slug}",
        headers={"Authorization": f"Bearer {token}"},
        chunk_size=NO_CHUNKING,
    )


def store(live_server, token: str, slug: str = "alpha"):
    return dicomweb(live_server, slug, token).store_instances([pydicom.dcmread(SAMPLES / "CT_small.dcm")])


def test_stow_is_refused_with_403_and_the_reason_while_agreements_are_missing(live_server, tenant, token):
    with pytest.raises(requests.HTTPError) as failure:
        store(live_server, token)

    response = failure.value.response
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == (
        "Ingestion refused: Alpha Imaging has no Data Processing Agreement and Terms of service in force. "
        "A clinic admin can accept it at /t/alpha/agreements/."
    )
    assert (
        response.headers["Warning"]
        == "299 palisade: Agreement missing: DPA, terms; a clinic admin must accept"
    )
    assert_nothing_stored(tenant)
    assert scratch_files() == []
    assert_refusal_recorded(tenant, "stow")


def test_stow_is_accepted_once_the_agreements_are_accepted(live_server, tenant, token, clinic_admin):
    accept_all(tenant, clinic_admin)

    result = store(live_server, token)

    assert len(result.ReferencedSOPSequence) == 1
    with tenant_scope(tenant):
        assert IngestJob.objects.filter(source="stow", state="queued").count() == 1
    assert refusals(tenant, "stow") == []


def test_stow_is_refused_again_once_the_agreements_expire(live_server, tenant, token, clinic_admin):
    accept_all(tenant, clinic_admin)
    expire_all(tenant)

    with pytest.raises(requests.HTTPError) as failure:
        store(live_server, token)

    assert failure.value.response.status_code == 403
    assert "has no Data Processing Agreement and Terms of service in force" in failure.value.response.text
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "stow")


def test_one_missing_kind_is_enough_to_refuse_and_is_named(live_server, tenant, token, clinic_admin):
    from portal.agreements import services

    services.accept_current(
        tenant, signer=clinic_admin, signer_name="Dana", signer_role="Director", kinds=["terms"]
    )

    with pytest.raises(requests.HTTPError) as failure:
        store(live_server, token)

    assert "has no Data Processing Agreement in force" in failure.value.response.text
    assert_refusal_recorded(tenant, "stow", missing=["dpa"])


def test_a_caller_of_another_clinic_still_gets_404_not_the_agreements_message(
    live_server, tenant, member_factory
):
    other = TenantFactory(slug="bravo", name="Bravo Radiology")
    stranger_token = issue_token(member_factory(other, Role.TECHNOLOGIST), other)[1]

    with pytest.raises(requests.HTTPError) as failure:
        store(live_server, stranger_token, slug="alpha")

    assert failure.value.response.status_code == 404
    assert "Alpha" not in failure.value.response.text
    assert refusals(tenant, "stow") == []
