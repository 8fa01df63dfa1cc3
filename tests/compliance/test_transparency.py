"""The transparency page: every member, patients included, reads where the clinic's data lives, how it
is encrypted, who may see it, how long it is kept, the agreements in force and whom to tell about a
breach, all from the live configuration."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from imaging.crypto.keys import rotate_tenant_key
from imaging.retention.models import RetentionRule
from portal.tenancy import tenant_scope
from tests.compliance.conftest import cells, figure, forget_agreements, sign
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest
from tests.replication.conftest import set_replicas


@pytest.fixture
def patient_client(client, tenant, member_factory):
    tenant.privacy_contact_name = "Dr. Privacy Officer"
    tenant.privacy_contact_email = "privacy@alpha.example"
    tenant.save()
    client.force_login(member_factory(tenant, Role.PATIENT))
    return client


def page(client, tenant) -> bytes:
    response = client.get(reverse("transparency", kwargs={"tenant_slug": tenant.slug}))
    assert response.status_code == 200
    return response.content


def test_a_patient_reads_the_regions_and_whom_to_tell_about_a_breach(patient_client, tenant):
    content = page(patient_client, tenant)
    assert figure(content, "region-eu-1-jurisdiction") == "EU"
    assert 'data-testid="region-eu-2"' not in content.decode()
    contact = figure(content, "breach-contact")
    assert "Dr. Privacy Officer" in contact and "privacy@alpha.example" in contact


def test_adding_a_replica_region_shows_on_the_page(patient_client, tenant):
    set_replicas(tenant, "eu-2")
    content = page(patient_client, tenant)
    assert figure(content, "region-eu-2-jurisdiction") == "EU"
    assert b'data-purpose="replica"' in content


def test_a_region_configured_elsewhere_shows_its_own_jurisdiction(patient_client, tenant, settings, tmp_path):
    settings.PALISADE_STORAGE = {
        **settings.PALISADE_STORAGE,
        "ch-1": {"jurisdiction": "CH", "location": str(tmp_path / "ch-1")},
    }
    tenant.home_region = "ch-1"
    tenant.save()
    assert figure(page(patient_client, tenant), "region-ch-1-jurisdiction") == "CH"


def test_encryption_names_the_cipher_the_key_provider_and_the_key_version(patient_client, tenant, settings):
    content = page(patient_client, tenant)
    assert "AES-256-GCM" in figure(content, "encryption")
    assert figure(content, "key-provider") == settings.PALISADE_KEY_PROVIDER
    assert "created with its first stored image" in figure(content, "key-version")
    ingest(tenant, SAMPLES / "CT_small.dcm")
    assert "version 1" in figure(page(patient_client, tenant), "key-version")
    with tenant_scope(tenant):
        rotate_tenant_key(tenant)
    assert "version 2, last rotated" in figure(page(patient_client, tenant), "key-version")


def test_who_may_see_the_data_comes_from_the_policy(patient_client, tenant):
    content = page(patient_client, tenant)
    assert "without images" in figure(content, "role-billing")
    assert "opens every study" in figure(content, "role-radiologist")
    assert "only the studies shared with them" in figure(content, "role-referring_physician")
    assert "audit trail" in figure(content, "role-auditor")


def test_retention_and_agreements_in_force_without_the_signer(patient_client, tenant, member_factory):
    assert "no retention period" in figure(page(patient_client, tenant), "retention")
    with tenant_scope(tenant):
        RetentionRule.objects.create(tenant=tenant, modality="CT", years_after_study=10)
    forget_agreements(tenant)
    signer = member_factory(tenant, Role.TENANT_ADMIN)
    dpa = sign(tenant, "dpa", signer)
    content = page(patient_client, tenant)
    assert "CT: kept 10 years" in figure(content, "retention")
    assert cells(content, "agreement-dpa") == [
        "Data Processing Agreement",
        str(dpa.text.version),
        dpa.signed_at.date().isoformat(),
        dpa.expires_at.date().isoformat(),
    ]
    assert signer.email not in content.decode() and "Test Signer" not in content.decode()


def test_reading_it_is_not_audited(patient_client, tenant):
    before = AuditEvent.objects.count()
    page(patient_client, tenant)
    assert AuditEvent.objects.count() == before


def test_another_clinics_member_gets_404(client, tenant, other_tenant, member_factory):
    client.force_login(member_factory(other_tenant, Role.PATIENT))
    assert client.get(reverse("transparency", kwargs={"tenant_slug": tenant.slug})).status_code == 404
