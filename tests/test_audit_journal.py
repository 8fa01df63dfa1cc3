"""The audit journal (audit/journal.py): the events of reads are on disk before the read answers, reach
their chain exactly once, and survive the death of the process that wrote them (issue 7)."""

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

import audit
from accounts.roles import Role
from accounts.tokens import issue_token
from audit import journal
from audit.chain import chain_of, verify_chain
from audit.models import AuditAction, AuditEvent, AuditJournalCursor
from tests.conftest import ROOT, database_url
from tests.factories import StudyFactory
from tests.operations.services import free_port, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _read_event(tenant, study_uid: str = "1.2.840.99.1") -> AuditEvent:
    return audit.event(
        AuditAction.RETRIEVE,
        tenant=tenant,
        actor_role="radiologist",
        object_type="study",
        object_ids=[study_uid],
        source_address="2001:DB8:0::0:1",
        details={"service": "wado-rs", "note": 'a "quoted" value, ünïcode'},
    )


def _lines(directory: Path) -> list[bytes]:
    return [line for path in sorted(directory.glob("*.jsonl")) for line in path.read_bytes().splitlines()]


@pytest.fixture
def own_journal(tmp_path, monkeypatch):
    """This process's journal, as portal/asgi.py starts it in a web process (without the drainer thread:
    the tests drain when they choose)."""
    started = journal.Journal(tmp_path / "journal")
    monkeypatch.setattr(journal, "_journal", started)
    yield started
    started.close()


def test_an_event_is_on_disk_when_queued_and_chained_exactly_once(tenant, tmp_path):
    written = journal.Journal(tmp_path)
    written.append(_read_event(tenant))

    assert len(_lines(tmp_path)) == 1
    assert not AuditEvent.objects.exists()

    assert journal.drain(tmp_path, own=written.path) == 1
    assert journal.drain(tmp_path, own=written.path) == 0
    event = AuditEvent.objects.get()
    assert (event.action, event.tenant_id, event.object_ids) == ("retrieve", tenant.pk, ["1.2.840.99.1"])
    assert event.details["note"] == 'a "quoted" value, ünïcode'
    assert event.source_address == "2001:db8::1"  # as the database gives an address back
    state = verify_chain(chain_of(tenant.pk))
    assert (state.events, state.first_break) == (1, None)
    assert AuditJournalCursor.objects.get(name=written.path.name).offset == written.path.stat().st_size
    written.close()


def test_a_file_no_process_holds_is_drained_and_deleted_and_a_held_one_is_left(tenant, tmp_path):
    finished = journal.Journal(tmp_path)
    for uid in ("1.2.840.99.1", "1.2.840.99.2"):
        finished.append(_read_event(tenant, uid))
    finished_path = finished.path
    finished.close()  # as at a process's death: its flock goes with it
    still_written = journal.Journal(tmp_path)
    still_written.append(_read_event(tenant, "1.2.840.99.3"))

    assert journal.drain(tmp_path) == 2

    assert sorted(AuditEvent.objects.values_list("object_ids", flat=True)) == [
        ["1.2.840.99.1"],
        ["1.2.840.99.2"],
    ]
    assert not finished_path.exists()
    assert not AuditJournalCursor.objects.filter(name=finished_path.name).exists()
    assert still_written.path.exists(), "a file its process still writes is its process's to drain"
    still_written.close()
    assert journal.drain(tmp_path) == 1
    assert list(tmp_path.glob("*.jsonl")) == []
    assert verify_chain(chain_of(tenant.pk)).events == 3


def test_a_line_whose_write_never_returned_is_left_out(tenant, tmp_path):
    crashed = journal.Journal(tmp_path)
    crashed.append(_read_event(tenant))
    path = crashed.path
    crashed.close()
    with path.open("ab") as file:  # a process killed in the middle of its write
        file.write(b'{"occurred_at":"2026-11-26T10:00:00+00:00","tenant_id":')

    assert journal.drain(tmp_path) == 1

    assert AuditEvent.objects.count() == 1
    assert not path.exists()


def test_a_batch_the_database_refuses_chains_nothing_and_keeps_every_line(tenant, tmp_path):
    written = journal.Journal(tmp_path)
    written.append(_read_event(tenant))
    orphan = _read_event(tenant)
    orphan.actor_id = 987654321  # no such user: the foreign key refuses the batch at commit
    written.append(orphan)
    size = written.path.stat().st_size

    with pytest.raises(IntegrityError):
        journal.drain(tmp_path, own=written.path)

    assert not AuditEvent.objects.exists()
    assert AuditJournalCursor.objects.get(name=written.path.name).offset == 0
    assert written.path.stat().st_size == size
    written.close()


def test_record_access_queues_outside_a_transaction_and_writes_inside_one(tenant, own_journal):
    audit.record_access(AuditAction.QUERY, tenant=tenant, object_type="study", details={"service": "qido-rs"})
    assert len(_lines(own_journal.directory)) == 1
    assert not AuditEvent.objects.exists()

    with transaction.atomic():
        audit.record_access(AuditAction.QUERY, tenant=tenant, object_type="study")
        assert AuditEvent.objects.count() == 1, "inside a transaction the event is part of it"
    assert len(_lines(own_journal.directory)) == 1

    assert journal.drain(own_journal.directory, own=own_journal.path) == 1
    assert verify_chain(chain_of(tenant.pk)).events == 2


def test_without_a_journal_record_access_writes_straight_into_the_chain(tenant, monkeypatch):
    monkeypatch.setattr(journal, "_journal", None)

    audit.record_access(AuditAction.QUERY, tenant=tenant, object_type="study")

    assert AuditEvent.objects.get().action == AuditAction.QUERY


@pytest.fixture
def tiny_journal_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_fails_the_read_and_loses_no_event_already_written(tenant, tiny_journal_disk):
    written = journal.Journal(tiny_journal_disk / "journal")
    written.append(_read_event(tenant, "1.2.840.99.1"))
    first_file = written.path
    ballast = tiny_journal_disk / "ballast"
    with pytest.raises(OSError), ballast.open("wb") as file:
        file.write(bytes(1024 * 1024))
    large = _read_event(tenant, "1.2.840.99.2")
    large.object_ids = [f"1.2.840.99.{n}" for n in range(2000)]  # ~24 KB: more than the disk has left

    with pytest.raises(OSError):
        written.append(large)

    assert written.path is None, "the file ending in half a line is given up"
    ballast.unlink()
    written.append(_read_event(tenant, "1.2.840.99.3"))
    assert written.path != first_file
    written.close()
    assert journal.drain(tiny_journal_disk / "journal") == 2
    assert sorted(AuditEvent.objects.values_list("object_ids", flat=True)) == [
        ["1.2.840.99.1"],
        ["1.2.840.99.3"],
    ]


def _start_portal(env_overrides: dict[str, str], journal_dir: Path) -> tuple[subprocess.Popen, str]:
    """The portal as `make run` serves it (uvicorn, with the ASGI lifespan), with an audit journal."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PALISADE_AUDIT_JOURNAL": "true",
        "PALISADE_AUDIT_JOURNAL_DIR": str(journal_dir),
        **env_overrides,
    }
    log_path = Path(settings.VAR_DIR) / f"uvicorn-journal-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--no-server-header"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(serving, 30, "uvicorn up")
    return process, url


def _search(url: str, tenant, token: str) -> requests.Response:
    return requests.get(
        f"{url}/dicomweb/{tenant.slug}/studies",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
        timeout=30,
    )


def _query_events(tenant) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant=tenant, action=AuditAction.QUERY))


def test_a_web_process_chains_its_reads_within_a_moment(tenant, member_factory, tmp_path):
    study = StudyFactory(tenant=tenant)
    token = issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)[1]
    process, url = _start_portal({"PALISADE_AUDIT_JOURNAL_INTERVAL": "0.2"}, tmp_path)
    try:
        response = _search(url, tenant, token)
        assert response.status_code == 200
        wait_until(lambda: len(_query_events(tenant)) == 1, 20, "the search's event in its chain")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)

    (event,) = _query_events(tenant)
    assert event.object_ids == [study.study_instance_uid]
    assert verify_chain(chain_of(tenant.pk)).first_break is None
    assert list(tmp_path.glob("*.jsonl")) == [], "a clean shutdown drains and deletes its file"


def test_an_answered_read_is_not_lost_when_its_process_is_killed(tenant, member_factory, tmp_path):
    StudyFactory(tenant=tenant)
    token = issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)[1]
    # A drainer that would not run for an hour: the process dies with its event still in the journal.
    process, url = _start_portal({"PALISADE_AUDIT_JOURNAL_INTERVAL": "3600"}, tmp_path)
    try:
        response = _search(url, tenant, token)
        assert response.status_code == 200
        assert len(_lines(tmp_path)) == 1, "on disk before the response left"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=20)
    assert _query_events(tenant) == []

    deadline = time.monotonic() + 10  # the kernel releases a killed process's flock as it reaps it
    while (chained := journal.drain(tmp_path)) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    assert chained == 1
    assert len(_query_events(tenant)) == 1
    assert list(tmp_path.glob("*.jsonl")) == []
    assert verify_chain(chain_of(tenant.pk)).first_break is None


def test_the_drain_command_chains_what_a_dead_process_left(tenant, tmp_path):
    left = journal.Journal(tmp_path)
    left.append(_read_event(tenant))
    left.close()
    out = io.StringIO()

    call_command("drain_audit_journal", "--dir", str(tmp_path), stdout=out)

    assert out.getvalue().strip() == f"Chained 1 audit event(s) from {tmp_path}."
    assert AuditEvent.objects.count() == 1
    assert list(tmp_path.glob("*.jsonl")) == []


def test_a_drainer_that_keeps_failing_says_so_once_a_minute_without_values(tenant, tmp_path, caplog):
    written = journal.Journal(tmp_path)
    refused = _read_event(tenant)
    refused.actor_id = 987654321  # the foreign key refuses it at every pass
    written.append(refused)
    drainer = journal.Drainer(written, interval=0.1)

    with caplog.at_level(logging.WARNING, logger="audit.journal"):
        for _ in range(3):
            drainer.drain_once()

    (warning,) = [record for record in caplog.records if record.name == "audit.journal"]
    assert "IntegrityError" in warning.getMessage()
    assert "987654321" not in warning.getMessage()
    assert not AuditEvent.objects.exists()
    assert len(_lines(tmp_path)) == 1, "the event waits on disk for the next pass"
    written.close()
