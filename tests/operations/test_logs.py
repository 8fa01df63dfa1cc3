"""Log lines are JSON, carry the request ID and the clinic, and never PHI: a sample whose patient name,
ID and birth date are known goes through the deployed processes (uvicorn for STOW-RS and QIDO-RS, a real
Celery worker for indexing), logging at DEBUG, and no line of theirs contains any of them."""

import json
import logging
import subprocess
import sys

import pydicom
import pytest
import requests

from portal.logging import JsonFormatter, PlainFormatter, RequestContextFilter, request_id_var, tenant_var
from tests.dicomweb.stow import related_body, related_type
from tests.ingest.samples import SAMPLES
from tests.operations.services import ROOT, manage, portal_server, subprocess_env, wait_until

PATIENT_NAME = "Quixote^Alonzo"
PATIENT_ID = "PHI-LOG-7731"
BIRTH_DATE = "19230417"
PHI = ["Quixote", "Alonzo", PATIENT_ID, BIRTH_DATE, "1923-04-17"]
SLUG = "logclinic"


def _sample_with_known_phi(path) -> bytes:
    dataset = pydicom.dcmread(SAMPLES / "CT_small.dcm")
    dataset.PatientName = PATIENT_NAME
    dataset.PatientID = PATIENT_ID
    dataset.PatientBirthDate = BIRTH_DATE
    dataset.save_as(path)
    return path.read_bytes()


def _check(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.integration
def test_the_portal_and_the_worker_log_json_without_phi(tmp_path):
    env = subprocess_env(
        tmp_path / "var", PALISADE_LOG_FORMAT="json", LOG_LEVEL="DEBUG", ALLOWED_HOSTS="127.0.0.1"
    )
    _check(manage(env, "migrate", "--noinput"))
    _check(manage(env, "create_tenant", SLUG, "--name", "Log Clinic", "--region", "eu-1"))
    _check(
        manage(
            env, "add_member", "tech@example.org", SLUG, "technologist", "--password", "Gx7-lantern-Orbit-92q"
        )
    )
    _check(
        manage(
            env,
            "shell",
            "-c",
            "from portal.models import Tenant; from tests.factories import accept_current_agreements; "
            f"accept_current_agreements(Tenant.objects.get(slug={SLUG!r}))",
        )
    )
    token_run = manage(env, "create_api_token", "tech@example.org", SLUG)
    _check(token_run)
    headers = {"Authorization": f"Bearer {token_run.stdout.strip().splitlines()[-1]}"}
    body = related_body([_sample_with_known_phi(tmp_path / "phi.dcm"), b"not DICOM at all"])

    worker_out, worker_err = (tmp_path / "worker.out").open("w"), (tmp_path / "worker.err").open("w")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "portal", "--quiet", "worker", "--pool=solo",
            "--loglevel=DEBUG", "--without-gossip", "--without-mingle",
        ],
        cwd=ROOT, env=env, stdout=worker_out, stderr=worker_err,
    )  # fmt: skip
    try:
        with portal_server({**env, "PYTHONUNBUFFERED": "1"}, tmp_path / "uvicorn.log") as base:
            dicomweb = f"{base}/dicomweb/{SLUG}"
            stored = requests.post(
                f"{dicomweb}/studies",
                data=body,
                headers={**headers, "Content-Type": related_type(), "Accept": "application/dicom+json"},
                timeout=60,
            )
            assert stored.status_code in (200, 202), stored.text
            assert stored.headers["X-Request-ID"]

            def indexed() -> bool:
                found = requests.get(
                    f"{dicomweb}/studies", params={"PatientID": PATIENT_ID}, headers=headers, timeout=30
                )
                return found.status_code == 200 and bool(found.content) and len(found.json()) == 1

            wait_until(indexed, 120, "the study indexed by the worker", interval=1.0)
            # A search by name and birth date, and a study that does not exist: paths and queries carry
            # identifiers the logs must not repeat.
            requests.get(
                f"{dicomweb}/studies",
                params={"PatientName": "Quixote*", "PatientBirthDate": BIRTH_DATE},
                headers={**headers, "X-Request-ID": "probe-request-1"},
                timeout=30,
            )
            missing = requests.get(
                f"{dicomweb}/studies/1.2.3.{BIRTH_DATE}/metadata", headers=headers, timeout=30
            )
            assert missing.status_code == 404
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=30)
        worker_out.close()
        worker_err.close()

    portal_lines = (tmp_path / "uvicorn.log").read_text().splitlines()
    worker_lines = (tmp_path / "worker.err").read_text().splitlines()
    assert portal_lines and worker_lines
    records = []
    for line in [*portal_lines, *worker_lines]:
        if not line.strip():
            continue
        record = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    everything = "\n".join([*portal_lines, *worker_lines, (tmp_path / "worker.out").read_text()])
    for value in PHI:
        assert value not in everything, f"{value!r} appears in a log line"
    # Lines written while a clinic's request ran carry its request ID and the clinic's slug.
    assert any(r.get("tenant") == SLUG and len(r.get("request_id", "")) == 32 for r in records)
    # The worker really worked, and said so in JSON.
    assert any("index_received_objects" in r["message"] for r in records if r["logger"].startswith("celery"))


def _format(formatter: logging.Formatter, message: str, *args) -> str:
    record = logging.LogRecord("portal.test", logging.WARNING, __file__, 1, message, args, None)
    RequestContextFilter().filter(record)
    return formatter.format(record)


def test_json_lines_carry_the_request_id_and_the_clinic():
    request_token, tenant_token = request_id_var.set("abc123"), tenant_var.set("alpha")
    try:
        line = json.loads(_format(JsonFormatter(), "Job %s stored", "42"))
    finally:
        request_id_var.reset(request_token)
        tenant_var.reset(tenant_token)

    assert line["message"] == "Job 42 stored"
    assert line["level"] == "WARNING" and line["logger"] == "portal.test"
    assert line["request_id"] == "abc123" and line["tenant"] == "alpha"
    assert line["time"].endswith("+00:00")


def test_outside_a_request_there_is_no_request_id():
    line = json.loads(_format(JsonFormatter(), "beat"))

    assert "request_id" not in line and "tenant" not in line


def test_plain_lines_for_make_run():
    request_token = request_id_var.set("abc123")
    try:
        line = _format(PlainFormatter(), "Job %s stored", "42")
    finally:
        request_id_var.reset(request_token)

    assert line.endswith("WARNING portal.test Job 42 stored [request_id=abc123]")


def test_django_request_lines_lose_the_path():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "%s: %s",
        ("Not Found", "/dicomweb/a/studies/1.2.3"),
        None,
    )
    RequestContextFilter().filter(record)

    assert json.loads(JsonFormatter().format(record))["message"] == "Not Found"


def test_a_request_id_from_outside_is_kept_when_sane_and_replaced_otherwise(client, db):
    kept = client.get("/healthz", headers={"X-Request-ID": "edge-7f3a"})
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})

    assert kept["X-Request-ID"] == "edge-7f3a"
    assert replaced["X-Request-ID"] != "bad id\nwith newline" and len(replaced["X-Request-ID"]) == 32
