"""DICOM TLS (PS3.15 B.9) with client certificates pinned per registered AE."""

import socket

import pytest

from audit.models import AuditAction, AuditEvent, Outcome
from imaging.dimse.services import register_remote_ae
from tests.dimse.conftest import LOOPBACK

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tls_scp(scp_factory, pki):
    return scp_factory("--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca)


@pytest.fixture
def pinned_modality(tenant, pki):
    return register_remote_ae(tenant, "CT1", tls_subject=pki.client_subject)


def with_certificate(pki, cert, key) -> list[str]:
    return ["+tls", str(key), str(cert), "+cf", str(pki.ca)]


def test_the_pinned_certificate_is_admitted_and_its_subject_audited(tls_scp, pki, tenant, pinned_modality):
    result = tls_scp.echo("CT1", "ALPHA", *with_certificate(pki, pki.client_cert, pki.client_key))

    assert result.returncode == 0, result.stdout
    event = AuditEvent.objects.get(action=AuditAction.DIMSE_ASSOCIATION)
    assert event.outcome == Outcome.SUCCESS
    assert event.details["tls_subject"] == "CN=ct-1,O=Alpha Imaging"


def test_a_store_over_mutual_tls_succeeds(tls_scp, pki, tenant, pinned_modality):
    from tests.ingest.samples import SAMPLES

    tls = with_certificate(pki, pki.client_cert, pki.client_key)
    result = tls_scp.store("CT1", "ALPHA", *tls, SAMPLES / "CT_small.dcm")

    assert result.returncode == 0, result.stdout
    assert "Received Store Response (Success)" in result.stdout


def test_a_pinned_ae_without_a_client_certificate_is_rejected(tls_scp, pki, tenant, pinned_modality):
    result = tls_scp.echo("CT1", "ALPHA", "+tla", "+cf", str(pki.ca))

    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.details["reason"] == "tls_subject_mismatch" and denied.details["tls_subject"] == ""


def test_a_pinned_ae_with_another_certificate_of_the_same_ca_is_rejected(
    tls_scp, pki, tenant, pinned_modality
):
    result = tls_scp.echo("CT1", "ALPHA", *with_certificate(pki, pki.stranger_cert, pki.stranger_key))

    assert result.returncode != 0
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.details["tls_subject"] == "CN=ct-9,O=Elsewhere"


def test_an_ae_without_a_pin_needs_no_client_certificate(tls_scp, pki, tenant, modality):
    assert tls_scp.echo("MODALITY1", "ALPHA", "+tla", "+cf", str(pki.ca)).returncode == 0


def test_a_silent_or_plain_client_does_not_stop_the_listener(tls_scp, pki, tenant, pinned_modality):
    with socket.create_connection((LOOPBACK, tls_scp.port), timeout=10):
        # The silent connection holds its own thread; the listener accepts the next one meanwhile.
        plain = tls_scp.echo("CT1", "ALPHA")
        secure = tls_scp.echo("CT1", "ALPHA", *with_certificate(pki, pki.client_cert, pki.client_key))

    assert plain.returncode != 0
    assert secure.returncode == 0, secure.stdout
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCESS_DENIED, details__reason="tls_handshake_failed"
    ).exists()
