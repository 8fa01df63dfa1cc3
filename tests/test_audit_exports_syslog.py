"""Audit events forwarded to a syslog collector over TLS (RFC 5424 messages framed per RFC 5425), as
DICOM audit messages: the collector is a real TLS listener on loopback, started by the test, that
checks our client certificate as an IHE ATNA audit record repository does."""

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.urls import reverse
from lxml import etree

import audit
from accounts.roles import Role
from audit.chain import chain_of
from audit.exports import forwarding
from audit.exports.syslog import Collector
from audit.exports.tasks import forward_audit_to_syslog
from audit.models import AuditAction, AuditEvent, SyslogCursor
from tests.factories import StudyFactory
from tests.test_audit_exports_dicom import valid_message

LOOPBACK = "127.0.0.1"
WAIT_SECONDS = 30
# RFC 5424 6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
SYSLOG_LINE = re.compile(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)", re.DOTALL)
BOM = b"\xef\xbb\xbf"


# --- A throwaway PKI: a CA, the collector's certificate (for 127.0.0.1), ours --------------------------


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: str, key, issuer: x509.Certificate | None, issuer_key, *, server: bool = False):
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server:
            address = ipaddress.ip_address(LOOPBACK)
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(address)]), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write(folder: Path, stem: str, certificate, key) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("syslog-pki")
    ca_key = _key()
    ca = _certificate("Audit test CA", ca_key, None, ca_key)
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    server_key, client_key = _key(), _key()
    server = _write(
        folder, "collector", _certificate("collector", server_key, ca, ca_key, server=True), server_key
    )
    client = _write(folder, "palisade", _certificate("palisade", client_key, ca, ca_key), client_key)
    return Pki(ca_path, *server, *client)


# --- The collector ----------------------------------------------------------------------------------------


@dataclass
class SyslogCollector:
    """An RFC 5425 receiver: TLS with client certificates, octet-counted frames, RFC 5424 messages."""

    pki: Pki
    port: int = 0
    messages: list[bytes] = field(default_factory=list)
    peer_subjects: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "SyslogCollector":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki.ca))
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        context.verify_mode = ssl.CERT_REQUIRED
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen()
        # accept() wakes up now and then to see whether the collector was stopped.
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._listener = listener
        self._thread = threading.Thread(target=self._serve, args=(listener, context), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on the port any more."""
        if self._listener is not None:
            self._stopping.set()
            self._thread.join(timeout=WAIT_SECONDS)
            self._listener.close()
            self._listener = None

    def settings(self) -> Collector:
        return Collector(
            LOOPBACK,
            self.port,
            ca_file=str(self.pki.ca),
            client_cert=str(self.pki.client_cert),
            client_key=str(self.pki.client_key),
            timeout=5,
        )

    def _serve(self, listener: socket.socket, context: ssl.SSLContext) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(WAIT_SECONDS)
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    self.peer_subjects.append(dict(x[0] for x in tls.getpeercert()["subject"])["commonName"])
                    self._receive(tls)
            except (OSError, ValueError):
                continue

    def _receive(self, tls: ssl.SSLSocket) -> None:
        buffer = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while True:
                # RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG
                length, space, rest = buffer.partition(b" ")
                if not space or len(rest) < int(length):
                    break
                self.messages.append(rest[: int(length)])
                buffer = rest[int(length) :]
        if buffer:
            self.messages.append(b"<incomplete frame>" + buffer)
        tls.unwrap()

    def wait_for(self, count: int) -> list[bytes]:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


@pytest.fixture
def collector(pki):
    started = SyslogCollector(pki).start()
    yield started
    started.stop()


@pytest.fixture
def configured(settings, collector):
    """The product's settings name the collector (PALISADE_AUDIT_SYSLOG_*)."""
    settings.PALISADE_AUDIT_SYSLOG_HOST = LOOPBACK
    settings.PALISADE_AUDIT_SYSLOG_PORT = collector.port
    settings.PALISADE_AUDIT_SYSLOG_CA_FILE = str(collector.pki.ca)
    settings.PALISADE_AUDIT_SYSLOG_CLIENT_CERT = str(collector.pki.client_cert)
    settings.PALISADE_AUDIT_SYSLOG_CLIENT_KEY = str(collector.pki.client_key)
    settings.PALISADE_AUDIT_SYSLOG_TIMEOUT = 5.0
    return collector


def audit_xml(syslog_message: bytes) -> etree._Element:
    """The DICOM audit message an RFC 5424 message carries, validated against the standard's schema."""
    match = SYSLOG_LINE.fullmatch(syslog_message)
    assert match, syslog_message[:200]
    priority, _, _, app_name, _, msg_id, structured_data, payload = match.groups()
    assert (int(priority), app_name, msg_id, structured_data) == (85, b"palisade", b"DICOM+RFC3881", b"-")
    assert payload.startswith(BOM)
    return valid_message(payload[len(BOM) :])


def cursor(chain: str) -> int:
    found = SyslogCursor.objects.filter(chain=chain).first()
    return found.sequence if found else 0


# --- The tests --------------------------------------------------------------------------------------------


def test_a_study_view_reaches_the_collector_as_a_valid_dicom_audit_message(
    client, tenant, member_factory, configured
):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    study = StudyFactory(tenant=tenant)
    client.force_login(radiologist)
    assert (
        client.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid])).status_code == 200
    )
    chain = chain_of(tenant.pk)
    last = AuditEvent.objects.filter(chain=chain).order_by("sequence").last()

    sent = forward_audit_to_syslog()

    received = configured.wait_for(sent)
    assert sent == AuditEvent.objects.count() == len(received)
    messages = [audit_xml(message) for message in received]
    views = [m for m in messages if m.find("EventIdentification/EventID").get("csd-code") == "110103"]
    (view,) = views
    study_uids = [p.get("ParticipantObjectID") for p in view.iter("ParticipantObjectIdentification")]
    assert study.study_instance_uid in study_uids
    assert cursor(chain) == last.sequence
    assert configured.peer_subjects and set(configured.peer_subjects) == {"palisade"}


def test_events_are_sent_once_in_chain_order(tenant, configured):
    for n in range(5):
        audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=[f"1.2.3.{n}"])
    forward_audit_to_syslog()
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.5"])

    forward_audit_to_syslog()

    received = configured.wait_for(6)
    assert len(received) == 6
    ids = [
        audit_xml(message).find("ParticipantObjectIdentification").get("ParticipantObjectID")
        for message in received
    ]
    assert ids == [f"1.2.3.{n}" for n in range(6)]
    assert cursor(chain_of(tenant.pk)) == 6


def test_with_the_collector_down_nothing_is_lost_and_the_cursor_waits(tenant, configured):
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.1"])
    forward_audit_to_syslog()
    assert len(configured.wait_for(1)) == 1
    configured.stop()
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.2"])
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.3"])

    with pytest.raises(OSError):
        forwarding.forward_pending()

    chain = chain_of(tenant.pk)
    assert cursor(chain) == 1
    stuck = SyslogCursor.objects.get(chain=chain)
    assert stuck.last_error.startswith("ConnectionRefusedError") and stuck.leased_until is None

    configured.start()  # back, on the same port
    forwarding.forward_pending()

    received = configured.wait_for(3)
    ids = [audit_xml(m).find("ParticipantObjectIdentification").get("ParticipantObjectID") for m in received]
    assert ids == ["1.2.3.1", "1.2.3.2", "1.2.3.3"]
    assert cursor(chain) == 3
    assert SyslogCursor.objects.get(chain=chain).last_error == ""


def test_a_collector_whose_certificate_is_not_trusted_gets_nothing(tenant, configured, settings, tmp_path):
    other_key = _key()
    other_ca = _certificate("Some other CA", other_key, None, other_key)
    settings.PALISADE_AUDIT_SYSLOG_CA_FILE = str(_write(tmp_path, "other-ca", other_ca, other_key)[0])
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.1"])

    with pytest.raises(ssl.SSLCertVerificationError):
        forwarding.forward_pending()

    assert configured.messages == []
    assert cursor(chain_of(tenant.pk)) == 0


def test_events_of_every_chain_are_forwarded_platform_included(tenant, other_tenant, configured):
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.1"])
    audit.record(AuditAction.QUERY, tenant=other_tenant, object_type="study", object_ids=["1.2.3.2"])
    audit.record(
        AuditAction.SIGN_IN_FAILED, details={"attempted_name_hmac": "ab"}, source_address="192.0.2.1"
    )

    forwarded = {result.chain: result.sent for result in forwarding.forward_pending(configured.settings())}

    assert forwarded == {chain_of(tenant.pk): 1, chain_of(other_tenant.pk): 1, "platform": 1}
    sites = {
        audit_xml(m).find("AuditSourceIdentification").get("AuditEnterpriseSiteID")
        for m in configured.wait_for(3)
    }
    assert sites == {tenant.slug, other_tenant.slug, None}


def test_nothing_is_sent_or_claimed_without_a_configured_collector(tenant, settings):
    settings.PALISADE_AUDIT_SYSLOG_HOST = ""
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.1"])

    assert forward_audit_to_syslog() == 0
    assert not SyslogCursor.objects.exists()


def test_a_chain_leased_by_another_worker_is_left_to_it(tenant, collector):
    audit.record(AuditAction.QUERY, tenant=tenant, object_type="study", object_ids=["1.2.3.1"])
    chain = chain_of(tenant.pk)
    SyslogCursor.objects.create(
        chain=chain, leased_until=datetime.datetime.now(datetime.UTC) + forwarding.LEASE
    )

    assert forwarding.forward_chain(chain, collector.settings()) is None
    assert collector.messages == [] and cursor(chain) == 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_forwards_a_study_view(client, tenant, member_factory, collector, worker_factory):
    from audit.exports.tasks import forward_audit_to_syslog as task

    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    study = StudyFactory(tenant=tenant)
    client.force_login(radiologist)
    client.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))
    worker_factory(
        PALISADE_AUDIT_SYSLOG_HOST=LOOPBACK,
        PALISADE_AUDIT_SYSLOG_PORT=str(collector.port),
        PALISADE_AUDIT_SYSLOG_CA_FILE=str(collector.pki.ca),
        PALISADE_AUDIT_SYSLOG_CLIENT_CERT=str(collector.pki.client_cert),
        PALISADE_AUDIT_SYSLOG_CLIENT_KEY=str(collector.pki.client_key),
    )
    expected = AuditEvent.objects.count()

    task.delay()

    received = collector.wait_for(expected)
    assert len(received) == expected
    accessed = [audit_xml(m) for m in received]
    assert any(
        p.get("ParticipantObjectID") == study.study_instance_uid
        for m in accessed
        for p in m.iter("ParticipantObjectIdentification")
    )
    deadline = time.monotonic() + WAIT_SECONDS
    while cursor(chain_of(tenant.pk)) < AuditEvent.objects.filter(chain=chain_of(tenant.pk)).count():
        assert time.monotonic() < deadline, "the cursor did not move"
        time.sleep(0.1)
