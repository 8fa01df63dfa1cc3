"""Keep the embedded database's write-ahead log from being checkpointed at the end of every request.

SQLite checkpoints its write-ahead log into the database file, and deletes the log, when the last
connection to the database closes. Django closed a request's connection when the request ended, so the
web process usually held the last connection, and each request that wrote paid a checkpoint on its way
out: about 2 ms, four times the audit write itself, which every audited read
makes (issue 7, bench/README.md). One connection held open for the life of the web process means that no
request's close is the last. SQLite still checkpoints, passively, each time the log passes its
autocheckpoint size (1,000 pages), so the log stays bounded.

The held connection never opens a transaction, so it never keeps a checkpoint from finishing nor a
writer from writing. The request threads' connections (portal/asgi_handler.py) now stay open too, but
each closes when its CONN_MAX_AGE runs out or its thread ends, and that close must not be the last.
"""

import sqlite3

from django.db import connections

_held: list[sqlite3.Connection] = []


def hold_open() -> None:
    """Open, once per process, a connection to each SQLite database and keep it open."""
    if _held:
        return
    for alias in connections:
        # By vendor, not ENGINE: settings may wrap the backend (django_prometheus's does).
        name = connections[alias].settings_dict["NAME"]
        if connections[alias].vendor != "sqlite" or _in_memory(name):
            continue
        # Autocommit (isolation_level None): the statement below ends its read at once.
        connection = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        # Opening the file alone does not attach the connection to the log: reading the schema does.
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        _held.append(connection)


def _in_memory(name) -> bool:
    return str(name) == ":memory:" or str(name).startswith("file::memory:") or "mode=memory" in str(name)
