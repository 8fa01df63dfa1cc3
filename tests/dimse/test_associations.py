"""Who may open an association to which clinic (imaging.dimse.associations), with dcmtk's echoscu."""

import pytest

from audit.models import AuditAction, AuditEvent, Outcome
from imaging.dimse.services import register_remote_ae
from imaging.models import RemoteAE
from portal.tenancy import tenant_scope

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def association_events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_registered_ae_echoes_and_the_association_is_audited(scp, tenant, modality):
    result = scp.echo("MODALITY1", "ALPHA")

    assert result.returncode == 0, result.stdout
    (event,) = association_events(AuditAction.DIMSE_ASSOCIATION)
    assert event.outcome == Outcome.SUCCESS
    assert event.tenant == tenant
    assert event.source_address == "127.0.0.1"
    assert event.object_ids == [str(modality.pk)]
    assert event.details == {"called_ae": "ALPHA", "calling_ae": "MODALITY1", "tls_subject": ""}


def test_an_unknown_called_ae_title_is_rejected_as_not_recognised(scp, tenant, modality):
    result = scp.echo("MODALITY1", "NOBODY")

    assert result.returncode != 0
    assert "Rejected Permanent, Source: Service User" in result.stdout
    assert "Called AE Title Not Recognized" in result.stdout
    (denied,) = association_events(AuditAction.ACCESS_DENIED)
    assert denied.tenant is None and denied.details["reason"] == "unknown_called_ae"


def test_an_unregistered_calling_ae_title_is_rejected(scp, tenant, modality):
    result = scp.echo("STRANGER", "ALPHA")

    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout
    (denied,) = association_events(AuditAction.ACCESS_DENIED)
    assert denied.tenant == tenant and denied.details["reason"] == "unknown_calling_ae"
    (association,) = association_events(AuditAction.DIMSE_ASSOCIATION)
    assert association.outcome == Outcome.FAILURE


def test_an_ae_pinned_to_another_address_is_rejected_like_an_unknown_one(scp, tenant):
    register_remote_ae(tenant, "PACS", host="10.20.30.40")

    result = scp.echo("PACS", "ALPHA")

    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout
    assert association_events(AuditAction.ACCESS_DENIED)[0].details["reason"] == "wrong_source_address"


def test_an_ae_pinned_to_its_address_is_admitted(scp, tenant):
    register_remote_ae(tenant, "PACS", host="127.0.0.1")

    assert scp.echo("PACS", "ALPHA").returncode == 0


def test_another_clinics_called_ae_title_does_not_admit_this_clinics_peer(
    scp, tenant, other_tenant, modality
):
    result = scp.echo("MODALITY1", "BRAVO")

    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout
    (denied,) = association_events(AuditAction.ACCESS_DENIED)
    assert denied.tenant == other_tenant


def test_a_deactivated_ae_is_rejected_from_its_next_association(scp, tenant, modality):
    assert scp.echo("MODALITY1", "ALPHA").returncode == 0
    with tenant_scope(tenant):
        RemoteAE.objects.filter(pk=modality.pk).update(is_active=False)

    assert scp.echo("MODALITY1", "ALPHA").returncode != 0


def test_an_inactive_clinic_is_not_recognised(scp, tenant, modality):
    tenant.is_active = False
    tenant.save()

    assert "Called AE Title Not Recognized" in scp.echo("MODALITY1", "ALPHA").stdout
