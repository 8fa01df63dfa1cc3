"""Palisade's ASGI application with the audit trail's write turned into a no-op. BENCH ONLY.

This module exists only so that bench/run_audit_overhead.py can measure what the audit path costs a
request: it serves the same application as `portal.asgi:application`, except that audit events are
built but never written. The product never uses it: no Procfile, setting, test or deployment names it,
and it lives under bench/, which is not part of the installed package. A Palisade started with it keeps
no audit trail and must never serve anyone.

Started by bench/palisade.py as `uvicorn asgi_without_audit:application --app-dir bench`.

What is replaced: `audit.services.append` and `audit.services.append_all`, the names that
`audit.services.record` and `record_all` call to number, hash-chain and save an event
(audit/chain.py), and `audit.services.queue`, which `audit.services.record_access` calls to write the
event of a read to the audit journal (audit/journal.py) when the process has one. Everything before
them still runs: the view builds its event with `audit.services.event` as usual. What no longer runs
is the audit write itself: the row lock on the tenant's chain head, the hash, the INSERT of the event,
the UPDATE of the head and the commit (on PostgreSQL one prepared statement, on SQLite a transaction
of three), or the journal's write and fdatasync.
"""

import importlib
import sys
from pathlib import Path

# uvicorn's --app-dir puts bench/ first on sys.path; the project's root must be importable too.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from portal.asgi import application  # noqa: E402 (sets Django up; after the project root is on sys.path)

__all__ = ["application"]
# Imported once Django is set up (by portal.asgi above): audit.services imports the models.
_services = importlib.import_module("audit.services")


def _append_nothing(event):
    """Stands in for audit.chain.append: the event, not numbered, not linked, not saved."""
    return event


def _append_all_nothing(events):
    """Stands in for audit.chain.append_all: the events, not numbered, not linked, not saved."""
    return events


def _queue_nothing(event):
    """Stands in for audit.journal.queue: the event taken, not written."""
    return True


_services.append = _append_nothing
_services.queue = _queue_nothing
_services.append_all = _append_all_nothing
