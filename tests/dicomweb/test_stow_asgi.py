"""STOW-RS and the upload page through uvicorn and Django's ASGI handler, as `make run` serves them:
chunked request bodies arrive whole, and a body that never ends, or grows too large, is stopped
(THREATS.md 9)."""

import io
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest
from dicomweb_client import DICOMwebClient
from django.conf import settings
from django.db import connection

from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.conftest import ROOT, database_url
from tests.dicomweb.stow import BOUNDARY, related_type
from tests.ingest.builders import minimal_dataset, write

pytestmark = pytest.mark.django_db(transaction=True)
IDLE_SECONDS = 2
MAX_BYTES = 8 * 1024**2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def uvicorn_url(django_db_setup):
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PALISADE_STOW_BODY_IDLE_SECONDS": str(IDLE_SECONDS),
        "PALISADE_STOW_MAX_BYTES": str(MAX_BYTES),
    }
    log_path = Path(settings.VAR_DIR) / f"uvicorn-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--lifespan", "off", "--no-server-header"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(url, process, log_path)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"uvicorn not serving after {timeout}s:\n{log_path.read_text()}")


@pytest.fixture
def asgi_token(tenant, member_factory) -> str:
    return issue_token(member_factory(tenant, Role.TECHNOLOGIST), tenant)[1]


def test_a_chunked_body_over_one_megabyte_arrives_whole(uvicorn_url, tenant, asgi_token, caplog, tmp_path):
    dataset = minimal_dataset(Rows=1024, Columns=1024)
    dataset.PixelData = os.urandom(1024 * 1024 * 2)
    large = pydicom.dcmread(write(dataset, tmp_path / "large.dcm"))
    encoded = io.BytesIO()
    pydicom.dcmwrite(encoded, large)
    client = DICOMwebClient(
        url=f"{uvicorn_url}/dicomweb/alpha", headers={"Authorization": f"Bearer {asgi_token}"}
    )

    with caplog.at_level(logging.INFO, logger="dicomweb_client"):
        try:
            result = client.store_instances([large])
        except Exception as e:
            with tenant_scope(tenant):
                print(
                    "DEBUG",
                    e.response.text,
                    list(IngestJob.objects.values_list("error_code", "error_reason")),
                )
            raise

    assert "chunked transfer encoding" in caplog.text
    assert [item.ReferencedSOPInstanceUID for item in result.ReferencedSOPSequence] == [large.SOPInstanceUID]
    with tenant_scope(tenant):
        job = IngestJob.objects.select_related("stored_object").get()
    assert job.stored_object.plaintext_size == len(encoded.getvalue()) > 2 * 1024**2


def _chunked_request(token: str) -> bytes:
    return (
        "POST /dicomweb/alpha/studies HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: {related_type()}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _status_of(sock: socket.socket) -> int:
    response = b""
    while b"\r\n" not in response:
        piece = sock.recv(4096)
        if not piece:
            break
        response += piece
    return int(response.split(b" ", 2)[1])


def test_a_chunked_body_that_never_ends_is_408_after_the_idle_time(uvicorn_url, tenant, asgi_token):
    port = int(uvicorn_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=IDLE_SECONDS * 10) as sock:
        # Before sending: the server's idle time starts when it has read this chunk, which may be
        # before the client returns from sendall.
        started = time.monotonic()
        sock.sendall(_chunked_request(asgi_token) + _chunk(f"--{BOUNDARY}\r\n\r\n".encode() + b"x" * 100))

        status = _status_of(sock)

    assert status == 408
    assert IDLE_SECONDS <= time.monotonic() - started < IDLE_SECONDS * 5
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
    assert _stow_request_statuses(tenant) == [408]


def test_a_search_without_a_body_is_answered_and_one_with_a_chunked_body_is_still_bounded(
    uvicorn_url, tenant, asgi_token
):
    port = int(uvicorn_url.rsplit(":", 1)[1])
    search = (
        "GET /dicomweb/alpha/studies HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {asgi_token}\r\n"
        "Accept: application/dicom+json\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=IDLE_SECONDS * 10) as sock:
        sock.sendall(search + b"\r\n")
        assert _status_of(sock) == 200
    with socket.create_connection(("127.0.0.1", port), timeout=IDLE_SECONDS * 10) as sock:
        started = time.monotonic()
        sock.sendall(search + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(b"x" * 100))

        status = _status_of(sock)

    assert status == 408
    assert IDLE_SECONDS <= time.monotonic() - started < IDLE_SECONDS * 5


def test_a_chunked_body_past_the_size_limit_is_413(uvicorn_url, tenant, asgi_token):
    port = int(uvicorn_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_chunked_request(asgi_token) + _chunk(f"--{BOUNDARY}\r\n\r\n".encode()))
        try:
            for _ in range(MAX_BYTES // (1024 * 1024) + 2):
                sock.sendall(_chunk(bytes(1024 * 1024)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the client has finished sending

        status = _status_of(sock)

    assert status == 413
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
    assert _stow_request_statuses(tenant) == [413]


def _stow_request_statuses(tenant) -> list[int]:
    """The statuses the STOW_REQUEST audit events record: the answer the client got."""
    events = AuditEvent.objects.filter(tenant=tenant, action=AuditAction.STOW_REQUEST).order_by("id")
    return [event.details["status"] for event in events]


def test_an_upload_body_that_never_ends_is_408_after_the_idle_time(uvicorn_url, tenant):
    port = int(uvicorn_url.rsplit(":", 1)[1])
    request = (
        b"POST /t/alpha/upload/files/ HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=IDLE_SECONDS * 10) as sock:
        started = time.monotonic()
        sock.sendall(request + _chunk(b"--x\r\n" + b"y" * 100))

        status = _status_of(sock)

    assert status == 408
    assert IDLE_SECONDS <= time.monotonic() - started < IDLE_SECONDS * 5
    with tenant_scope(tenant):
        assert not IngestJob.objects.exists()
