"""The clinic of these tests starts WITHOUT its agreements (TenantFactory(agreements=False)): clinic
alpha, home region eu-1, so jurisdiction EU, which requires the DPA and the terms of service."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.models import IngestJob, Instance, StoredObject
from portal.agreements import services
from portal.agreements.models import AgreementAcceptance
from portal.tenancy import tenant_scope

# The DIMSE listener's fixtures (manage.py dicom_scp in a process of its own), for the C-STORE tests.
from tests.dimse.conftest import modality, scp, scp_factory  # noqa: F401
from tests.factories import TenantFactory

EU_KINDS = ["dpa", "terms"]


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="alpha", name="Alpha Imaging", agreements=False)


@pytest.fixture
def clinic_admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


def accept_all(tenant, signer) -> list[AgreementAcceptance]:
    """What a clinic admin does on the agreements page, for every kind at once."""
    return services.accept_current(
        tenant, signer=signer, signer_name="Dana Admin", signer_role="Medical director"
    )


def expire_all(tenant) -> None:
    """Time passes past the end of every acceptance the clinic has."""
    with tenant_scope(tenant):
        AgreementAcceptance.objects.filter(tenant=tenant).update(
            signed_at=timezone.now() - timedelta(days=366), expires_at=timezone.now() - timedelta(seconds=1)
        )


def storage_files(tenant) -> list[Path]:
    root = Path(settings.PALISADE_STORAGE[tenant.home_region]["location"]) / str(tenant.pk)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def scratch_files() -> list[Path]:
    scratch = Path(settings.VAR_DIR) / "scratch"
    return [path for path in scratch.rglob("*") if path.is_file()] if scratch.exists() else []


def assert_nothing_stored(tenant) -> None:
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
        assert not Instance.objects.exists()
        assert not StoredObject.objects.exists()
    assert storage_files(tenant) == []


def refusals(tenant, channel: str) -> list[AuditEvent]:
    with tenant_scope(tenant):
        return [
            event
            for event in AuditEvent.objects.filter(tenant=tenant, action=AuditAction.STORE_REJECTED)
            if event.details.get("channel") == channel
        ]


def assert_refusal_recorded(tenant, channel: str, missing: list[str] = EU_KINDS) -> None:
    (event,) = refusals(tenant, channel)
    assert event.details["reason"] == "agreement_missing"
    assert event.details["missing"] == missing
    assert event.outcome == "failure"
