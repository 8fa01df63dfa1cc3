"""The web process holds a connection to the embedded database (portal/sqlite_wal.py) so that the end of
a request is never the last close, which would checkpoint the write-ahead log at that request's cost."""

import sqlite3

import pytest
from django.db import connection

from portal import sqlite_wal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded database only"),
]


@pytest.fixture
def held():
    sqlite_wal.hold_open()
    yield sqlite_wal._held
    for held_connection in sqlite_wal._held:
        held_connection.close()
    sqlite_wal._held.clear()


def _log_frames(path: str) -> tuple[int, int, int]:
    """(busy, frames in the log, frames checkpointed) of a passive checkpoint run from a fresh connection."""
    probe = sqlite3.connect(path, isolation_level=None)
    try:
        return probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        probe.close()


def test_the_log_outlives_a_request_that_wrote_and_closed(held):
    path = connection.settings_dict["NAME"]
    assert len(held) == 1
    assert held[0].execute("PRAGMA database_list").fetchone()[2] == str(path)
    sqlite_wal.hold_open()
    assert len(held) == 1, "held once per process"

    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS wal_probe (n integer)")
        cursor.execute("INSERT INTO wal_probe VALUES (1)")
    connection.close()
    # Without the held connection this close was the last and checkpointed the log away (wal file gone
    # or reset). With it, the log is still there, and the held connection blocks no checkpoint: a
    # passive checkpoint copies every frame (busy 0, all frames checkpointed).
    busy, frames, checkpointed = _log_frames(str(path))
    assert busy == 0
    assert frames > 0
    assert checkpointed == frames
