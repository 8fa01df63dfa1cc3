"""The DICOM peers page: register and remove the clinic's peers, with a client certificate's subject."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from imaging.dimse.associations import AssociationRefused, AssociationRequest, admit
from imaging.dimse.models import RemoteAE
from portal.onboarding.certificates import colon_fingerprint
from portal.onboarding.models import PeerCertificate
from portal.tenancy import tenant_scope
from tests.onboarding.certs import certificate_pem, key_pem, make_certificate

pytestmark = pytest.mark.django_db

PEERS = reverse("dicom-peers", kwargs={"tenant_slug": "alpha"})


def peer_data(**overrides) -> dict:
    return {"ae_title": "CT1", "host": "10.0.0.5", "port": "104", "may_store": "on", **overrides}


def upload(data: bytes, name: str = "ct-1.pem") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/x-pem-file")


def peers_of(tenant) -> list[RemoteAE]:
    with tenant_scope(tenant):
        return list(RemoteAE.objects.all())


def test_the_page_shows_the_clinics_called_ae_title_and_listener(admin_client, tenant, settings):
    settings.PALISADE_DIMSE_PUBLIC_HOST = "dicom.palisade.example"
    settings.PALISADE_DIMSE_PUBLIC_PORT = 2762
    page = admin_client.get(PEERS).content.decode()
    assert '<code data-testid="called-ae">ALPHA</code>' in page
    assert "dicom.palisade.example" in page and "2762" in page


def test_a_peer_without_certificate_is_registered_and_audited(admin_client, tenant, clinic_admin):
    response = admin_client.post(PEERS, peer_data(may_query="on"))

    assert response.status_code == 302
    [peer] = peers_of(tenant)
    assert (peer.ae_title, peer.host, peer.port, peer.tls_subject) == ("CT1", "10.0.0.5", 104, "")
    assert (peer.may_store, peer.may_query, peer.may_retrieve) == (True, True, False)
    event = AuditEvent.objects.get(action=AuditAction.AE_TITLE_REGISTERED)
    assert (event.tenant, event.actor, event.object_ids) == (tenant, clinic_admin, [str(peer.pk)])
    assert "CT1" in admin_client.get(PEERS).content.decode()


def test_a_certificates_subject_is_pinned_as_the_listener_compares_it(admin_client, tenant):
    certificate, _ = make_certificate("ct-1", "Alpha Imaging")

    admin_client.post(PEERS, peer_data(certificate=upload(certificate_pem(certificate))))

    [peer] = peers_of(tenant)
    assert peer.tls_subject == "CN=ct-1,O=Alpha Imaging,C=DE"
    with tenant_scope(tenant):
        stored = PeerCertificate.objects.get(remote_ae=peer)
    assert stored.not_after == certificate.not_valid_after_utc.replace(microsecond=0)
    # The listener's own decision (imaging.dimse.associations) admits this certificate's subject only.
    admitted = admit(AssociationRequest("ALPHA", "CT1", "10.0.0.5", tls_subject=certificate.subject))
    assert admitted.remote_ae_id == peer.pk
    impostor, _ = make_certificate("ct-2", "Alpha Imaging")
    with pytest.raises(AssociationRefused):
        admit(AssociationRequest("ALPHA", "CT1", "10.0.0.5", tls_subject=impostor.subject))
    page = admin_client.get(PEERS).content.decode()
    assert colon_fingerprint(stored.fingerprint_sha256) in page
    assert certificate.not_valid_after_utc.strftime("%Y-%m-%d") in page


def refused(admin_client, data: bytes, name: str = "ct-1.pem") -> str:
    response = admin_client.post(PEERS, peer_data(certificate=upload(data, name)))
    assert response.status_code == 400
    return " ".join(response.context["form"].errors["certificate"])


def test_a_private_key_is_refused_and_kept_nowhere(admin_client, tenant):
    certificate, key = make_certificate()
    assert "private key" in refused(admin_client, certificate_pem(certificate) + key_pem(key))
    assert "private key" in refused(admin_client, key_pem(key), "ct-1.key")
    assert peers_of(tenant) == []
    assert not AuditEvent.objects.filter(action=AuditAction.AE_TITLE_REGISTERED).exists()


def test_something_that_is_not_a_certificate_is_refused(admin_client, tenant):
    assert "not a PEM certificate" in refused(admin_client, b"hello, I am a text file\n")
    damaged = certificate_pem(make_certificate()[0]).replace(b"M", b"!", 3)
    assert "could not be read" in refused(admin_client, damaged)
    assert peers_of(tenant) == []


def test_an_expired_certificate_is_refused(admin_client, tenant):
    now = datetime.now(UTC)
    expired, _ = make_certificate(not_before=now - timedelta(days=400), not_after=now - timedelta(days=1))
    assert "expired on" in refused(admin_client, certificate_pem(expired))
    assert peers_of(tenant) == []


def test_a_chain_of_several_certificates_is_refused(admin_client, tenant):
    chain = certificate_pem(make_certificate("a")[0]) + certificate_pem(make_certificate("b")[0])
    assert "alone" in refused(admin_client, chain)


def test_a_taken_ae_title_is_refused_on_its_field(admin_client, tenant):
    admin_client.post(PEERS, peer_data())
    response = admin_client.post(PEERS, peer_data(host="10.0.0.6"))
    assert response.status_code == 400
    assert "already registered" in str(response.context["form"].errors)
    assert len(peers_of(tenant)) == 1


def test_removing_a_peer_is_audited_and_its_next_association_refused(admin_client, tenant):
    certificate, _ = make_certificate()
    admin_client.post(PEERS, peer_data(certificate=upload(certificate_pem(certificate))))
    [peer] = peers_of(tenant)

    response = admin_client.post(
        reverse("dicom-peer-remove", kwargs={"tenant_slug": "alpha", "peer_id": peer.pk})
    )

    assert response.status_code == 302
    assert peers_of(tenant) == []
    with tenant_scope(tenant):
        assert not PeerCertificate.objects.exists()
    event = AuditEvent.objects.get(action=AuditAction.AE_TITLE_REMOVED)
    assert event.object_ids == [str(peer.pk)]
    with pytest.raises(AssociationRefused):
        admit(AssociationRequest("ALPHA", "CT1", "10.0.0.5", tls_subject=certificate.subject))


def test_another_clinics_peer_cannot_be_removed(admin_client, other_tenant):
    with tenant_scope(other_tenant):
        peer = RemoteAE.objects.create(tenant=other_tenant, ae_title="MR1")
    url = reverse("dicom-peer-remove", kwargs={"tenant_slug": "alpha", "peer_id": peer.pk})
    assert admin_client.post(url).status_code == 404
    assert peers_of(other_tenant) == [peer]


def test_a_certificate_not_yet_valid_is_refused(admin_client, tenant):
    now = datetime.now(UTC)
    future, _ = make_certificate(not_before=now + timedelta(days=2), not_after=now + timedelta(days=400))
    assert "not valid before" in refused(admin_client, certificate_pem(future))
    assert peers_of(tenant) == []
