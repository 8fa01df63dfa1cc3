"""The DICOM listener as operators run it: `manage.py dicom_scp` in a process of its own, on a free
loopback port, against the test database, driven by dcmtk's echoscu and storescu."""

import datetime
import ipaddress
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import connection

from imaging.dimse.services import register_remote_ae
from tests.conftest import ROOT, database_url

LOOPBACK = "127.0.0.1"
COMMAND_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def run(*command: str | Path) -> subprocess.CompletedProcess:
    """A dcmtk tool, bounded in time; its output (stdout and stderr) in .stdout."""
    return subprocess.run(
        [str(part) for part in command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_SECONDS,
    )


@dataclass
class Listener:
    process: subprocess.Popen
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def echo(self, calling: str, called: str, *tls: str) -> subprocess.CompletedProcess:
        return run("echoscu", *tls, "-aet", calling, "-aec", called, LOOPBACK, str(self.port))

    def store(self, calling: str, called: str, *args: str | Path) -> subprocess.CompletedProcess:
        return run("storescu", "-v", "-R", "-aet", calling, "-aec", called, LOOPBACK, str(self.port), *args)


@pytest.fixture
def scp_factory(transactional_db, tmp_path):
    """Start `manage.py dicom_scp` with extra arguments; every listener is stopped after the test."""
    started: list[Listener] = []

    def start(*args: str | Path) -> Listener:
        port = free_port()
        log_path = tmp_path / f"dicom_scp-{port}.log"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
        env["DATABASE_URL"] = database_url(connection.settings_dict)
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "dicom_scp",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(port),
                    *map(str, args),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        listener = Listener(process, port, log_path)
        started.append(listener)
        deadline = time.monotonic() + 60
        while "DICOM listener on" not in listener.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dicom_scp did not start:\n{listener.log()}")
            time.sleep(0.1)
        return listener

    yield start
    for listener in started:
        listener.process.terminate()
        try:
            listener.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            listener.process.kill()
            listener.process.wait(timeout=10)


@pytest.fixture
def scp(scp_factory):
    return scp_factory()


@pytest.fixture
def modality(tenant):
    """A registered peer of the Alpha clinic (called AE title ALPHA)."""
    return register_remote_ae(tenant, "MODALITY1")


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path

    client_subject = "CN=ct-1,O=Alpha Imaging"


def _name(common_name: str, organisation: str) -> x509.Name:
    # Most general RDN first, as CAs issue them; RFC 4514 writes the most specific first: CN=..,O=..
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(folder: Path, stem: str, subject: x509.Name, issuer: x509.Name, issuer_key, *, ca: bool = False):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return key


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    """A test CA, a server certificate for 127.0.0.1, the modality's client certificate, and a
    certificate of the same CA with another subject."""
    folder = tmp_path_factory.mktemp("pki")
    ca_name = _name("Palisade Test CA", "Palisade")
    ca_key = _issue(folder, "ca", ca_name, ca_name, None, ca=True)
    _issue(folder, "server", _name("localhost", "Palisade"), ca_name, ca_key)
    _issue(folder, "client", _name("ct-1", "Alpha Imaging"), ca_name, ca_key)
    _issue(folder, "stranger", _name("ct-9", "Elsewhere"), ca_name, ca_key)
    return Pki(
        ca=folder / "ca.crt",
        server_cert=folder / "server.crt",
        server_key=folder / "server.key",
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
        stranger_cert=folder / "stranger.crt",
        stranger_key=folder / "stranger.key",
    )


def storage_root(tenant) -> Path:
    return Path(settings.PALISADE_STORAGE[tenant.home_region]["location"]) / str(tenant.pk)
