"""What accounts.policy lets a DIMSE peer do beyond storing: query, retrieve, be a C-MOVE destination."""

import pytest

from accounts import policy
from imaging.dimse.services import register_remote_ae
from portal.tenancy import tenant_scope
from tests.factories import StudyFactory


def test_query_and_retrieve_are_granted_separately_and_end_with_the_registration(tenant):
    reader = register_remote_ae(tenant, "READER", may_query=True)
    fetcher = register_remote_ae(tenant, "FETCHER", may_retrieve=True)

    assert policy.remote_ae_may_query(reader) and not policy.remote_ae_may_retrieve(reader)
    assert policy.remote_ae_may_retrieve(fetcher) and not policy.remote_ae_may_query(fetcher)
    reader.is_active = fetcher.is_active = False
    assert not policy.remote_ae_may_query(reader)
    assert not policy.remote_ae_may_retrieve(fetcher)


def test_a_peer_sees_every_study_of_its_own_clinic_only(tenant, other_tenant):
    ours = [StudyFactory(tenant=tenant), StudyFactory(tenant=tenant)]
    StudyFactory(tenant=other_tenant)
    pacs = register_remote_ae(tenant, "PACS", may_query=True)

    with tenant_scope(tenant):
        assert set(policy.remote_ae_visible_studies(pacs)) == set(ours)
        pacs.is_active = False
        assert not policy.remote_ae_visible_studies(pacs).exists()


@pytest.mark.parametrize(
    ("registration", "allowed"),
    [
        ({"host": "10.0.0.7", "port": 104}, True),
        ({"host": "10.0.0.7"}, False),
        ({"port": 104}, False),
        ({}, False),
    ],
)
def test_only_a_registration_with_address_and_port_is_a_move_destination(tenant, registration, allowed):
    destination = register_remote_ae(tenant, "WORKSTATION", **registration)

    assert policy.may_be_move_destination(destination) is allowed
    destination.is_active = False
    assert not policy.may_be_move_destination(destination)
