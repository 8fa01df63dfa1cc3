"""The gate's function itself: what it checks, what it records, how it words the refusal."""

import pytest
from django.test import override_settings

from portal.agreements import services
from tests.agreements.conftest import accept_all, refusals
from tests.factories import TenantFactory


def test_a_mere_check_records_nothing_and_an_attempt_records_the_refusal(tenant):
    with pytest.raises(services.AgreementMissing):
        services.assert_may_ingest(tenant)
    assert refusals(tenant, "stow") == []

    with pytest.raises(services.AgreementMissing) as refused:
        services.assert_may_ingest(tenant, channel="stow")

    assert refused.value.missing == ["dpa", "terms"]
    assert len(refusals(tenant, "stow")) == 1


def test_a_clinic_with_its_agreements_in_force_may_ingest(tenant, clinic_admin):
    accept_all(tenant, clinic_admin)

    services.assert_may_ingest(tenant, channel="stow")

    assert refusals(tenant, "stow") == []


@override_settings(PALISADE_REQUIRED_AGREEMENTS={"*": ["baa", "dpa", "terms"]})
def test_the_short_reason_fits_a_dimse_error_comment_whatever_is_missing(db):
    clinic = TenantFactory(slug="everything", agreements=False)

    with pytest.raises(services.AgreementMissing) as refused:
        services.assert_may_ingest(clinic)

    assert refused.value.short_message == "Agreement missing: BAA, DPA, terms; a clinic admin must accept"
    assert len(refused.value.short_message) <= 64


@override_settings(PALISADE_REQUIRED_AGREEMENTS={"US": ["baa"], "*": []})
def test_what_is_required_follows_the_setting(db):
    eu = TenantFactory(slug="eu-clinic", home_region="eu-1", agreements=False)
    us = TenantFactory(slug="us-clinic", home_region="us-1", agreements=False)

    assert services.required_kinds(eu) == [] and services.missing_agreements(eu) == []
    assert services.missing_agreements(us) == ["baa"]
