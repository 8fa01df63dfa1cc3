"""The rules behind the statuses, each seen changing a status when the state it reads changes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import SecurityPolicy
from accounts.roles import Role
from imaging.models import StoredObject
from imaging.replication.models import ObjectCopy
from imaging.retention.erasure import request_erasure
from imaging.retention.models import ErasureRequest
from portal.tenancy import tenant_scope
from tests.compliance.conftest import attribute, forget_agreements, sign
from tests.factories import StudyFactory
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest
from tests.mfa import give_authenticator_app


@pytest.fixture
def admin(tenant, member_factory, client):
    user = member_factory(tenant, Role.TENANT_ADMIN)
    give_authenticator_app(user)
    client.force_login(user)
    return user


def status(client, tenant, admin, key: str, **extra) -> str:
    response = client.get(reverse("compliance-report", kwargs={"tenant_slug": tenant.slug}), **extra)
    assert response.status_code == 200
    return attribute(response.content, f"safeguard-{key}", "data-status")


def test_authentication_is_met_once_every_member_of_a_required_role_has_a_second_factor(
    client, tenant, admin, member_factory
):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    member_factory(tenant, Role.PATIENT)  # not required by the default policy
    assert status(client, tenant, admin, "hipaa-authentication") == "not_met"
    give_authenticator_app(radiologist)
    assert status(client, tenant, admin, "hipaa-authentication") == "met"
    # The clinic requires it of patients too: now the patient without one counts.
    SecurityPolicy.objects.update_or_create(tenant=tenant, defaults={"mfa_required_roles": Role.values})
    assert status(client, tenant, admin, "hipaa-authentication") == "not_met"


def test_encryption_is_not_met_when_an_object_has_no_recorded_ciphertext_hash(client, tenant, admin):
    ingest(tenant, SAMPLES / "CT_small.dcm")
    assert status(client, tenant, admin, "hipaa-encryption") == "met"
    with tenant_scope(tenant):
        StoredObject.objects.update(ciphertext_sha256="")
    assert status(client, tenant, admin, "hipaa-encryption") == "not_met"
    assert status(client, tenant, admin, "gdpr-32") == "not_met"


def test_integrity_is_not_met_with_a_corrupt_copy_and_needs_attention_without_a_scrub(client, tenant, admin):
    from tests.replication.conftest import replicate_pending, set_replicas

    set_replicas(tenant, "eu-2")
    ingest(tenant, SAMPLES / "CT_small.dcm")
    replicate_pending(tenant)
    assert status(client, tenant, admin, "hipaa-integrity") == "attention"  # never scrubbed
    with tenant_scope(tenant):
        ObjectCopy.objects.update(state=ObjectCopy.State.CORRUPT)
    assert status(client, tenant, admin, "hipaa-integrity") == "not_met"


def test_records_are_not_met_without_the_agreements_the_jurisdiction_requires(client, tenant, admin):
    forget_agreements(tenant)
    sign(tenant, "terms", admin)
    assert status(client, tenant, admin, "gdpr-30") == "not_met"  # an EU clinic needs a DPA
    sign(tenant, "dpa", admin)
    assert status(client, tenant, admin, "gdpr-30") == "met"


def test_an_erasure_request_waiting_more_than_a_month_needs_attention(client, tenant, admin):
    with tenant_scope(tenant):
        request_erasure(StudyFactory(tenant=tenant), requested_by=admin, reason="Patient request 7")
    assert status(client, tenant, admin, "gdpr-17") == "met"
    with tenant_scope(tenant):
        ErasureRequest.objects.update(requested_at=timezone.now() - timedelta(days=31))
    assert status(client, tenant, admin, "gdpr-17") == "attention"


def test_transmission_is_met_behind_https_with_hsts_and_secure_cookies(client, tenant, admin, settings):
    assert status(client, tenant, admin, "hipaa-transmission") == "not_met"
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    assert status(client, tenant, admin, "hipaa-transmission", secure=True) == "met"
    settings.SECURE_HSTS_SECONDS = 3600
    assert status(client, tenant, admin, "hipaa-transmission", secure=True) == "attention"


def test_a_copy_outside_the_residency_is_not_met(client, tenant, admin):
    ingest(tenant, SAMPLES / "CT_small.dcm")
    assert status(client, tenant, admin, "gdpr-5") == "attention"  # no retention rule yet
    with tenant_scope(tenant):
        stored = StoredObject.objects.get()
        # What the replication refuses to write (imaging.replication.services.assert_residency): a row
        # saying a copy lies in us-1 is what the report must catch.
        ObjectCopy.objects.create(
            tenant=tenant,
            stored_object=stored,
            region="us-1",
            storage_name=stored.storage_name,
            state=ObjectCopy.State.OK,
        )
    assert status(client, tenant, admin, "gdpr-5") == "not_met"
