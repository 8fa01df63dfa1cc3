"""The audit journal: a durable queue for the events of reads, so that recording them does not slow them.

Issue 7 asks that recording not slow reads: "write in the request's transaction or through a durable
queue". On PostgreSQL, writing an event into its chain costs a read a round trip and a commit of its
own (a WAL flush), +15 % on a QIDO-RS search (bench/README.md). So the web process appends the events
of reads, one JSON line each, to a file of its own and fdatasyncs it before the response leaves: the
event is on disk before any PHI is sent, and the read pays a local write instead of a commit.

A thread of the process (`Drainer`) moves the lines into the chains in batches. One transaction numbers,
hashes and inserts a batch (audit.chain.append_all, chain by chain) and moves the file's
AuditJournalCursor, so each line is chained exactly once even if the process dies half-way. A process
holds an exclusive flock on the file it writes; a file that nobody holds (its process died, or moved
on to a new file) is drained by whichever process looks next, then deleted. A line without its
newline is a write that never returned, so its request never answered: it is left out.

Only reads come here (audit.record_access), and only outside a transaction: the events of writes
belong to the transaction that makes the change.

Written by hand: no maintained library is a durable, exactly-once, multi-process queue into our own
hash chains without a server of its own (the Celery broker here, Redis, is not durable).
"""

import atexit
import datetime
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from audit.chain import append_all, chain_of
from audit.models import AuditEvent, AuditJournalCursor
from portal.durability import fsync_path

logger = logging.getLogger(__name__)

SUFFIX = ".jsonl"
# A process moves on to a new file after this many bytes; the full one is drained and deleted.
MAX_FILE_BYTES = 16 * 1024**2
# Lines chained per transaction.
BATCH_LINES = 500
# While chaining fails, the drainer says so at most this often.
WARN_EVERY_SECONDS = 60.0
# The content of an event as audit.services.event builds it: every column but its id and what chaining
# fills in (its chain, number and hashes).
_FIELDS = tuple(
    field.attname
    for field in AuditEvent._meta.concrete_fields
    if not field.primary_key and field.attname not in ("chain", "sequence", "previous_hash", "hash")
)


def _line(event: AuditEvent) -> bytes:
    content = {field: getattr(event, field) for field in _FIELDS}
    content["occurred_at"] = event.occurred_at.isoformat()
    return (json.dumps(content, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _event(line: bytes) -> AuditEvent:
    content = json.loads(line)
    content["occurred_at"] = datetime.datetime.fromisoformat(content["occurred_at"])
    return AuditEvent(**content)


class Journal:
    """The file this process appends the events of reads to."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self.path: Path | None = None
        self._fd: int | None = None
        self._size = 0
        self._lock = threading.Lock()

    def append(self, event: AuditEvent) -> None:
        """Write `event` and wait until it is on disk."""
        line = _line(event)
        with self._lock:
            if self._fd is not None and self._size + len(line) > MAX_FILE_BYTES:
                self._close()
            try:
                if self._fd is None:
                    self._open()
                if os.write(self._fd, line) != len(line):
                    raise OSError("the audit journal took part of an event")
                os.fdatasync(self._fd)
            except OSError:
                # Whatever this file now ends with (half a line, a line not known to be on disk), the
                # next event goes to a new file: a half line at the end of a file is left out.
                self._close()
                raise
            self._size += len(line)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> None:
        path = self.directory / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.path, self._fd, self._size = path, fd, 0
        fsync_path(self.directory)

    def _close(self) -> None:
        if self._fd is not None:
            # Closing gives up the flock: the file is any drainer's from now on.
            os.close(self._fd)
        self.path, self._fd, self._size = None, None, 0


def drain(directory: Path, *, own: Path | None = None) -> int:
    """Chain every complete line in `directory` not chained yet; the number of events chained.

    `own` is the file this process is writing, drained as far as it goes. Any other file is drained
    only if no process holds it, then deleted.
    """
    chained = 0
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if path == own:
            chained += _drain_file(path)
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # another drainer has just finished it
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is writing it
                continue
            if os.fstat(fd).st_nlink == 0:  # drained and deleted between our open and our lock
                continue
            chained += _drain_file(path)
            # The file first: a cursor deleted before its file would have the file chained again.
            path.unlink()
            fsync_path(directory)
            _chained_to.pop(path.name, None)
            AuditJournalCursor.objects.using(router.db_for_write(AuditEvent)).filter(name=path.name).delete()
        finally:
            os.close(fd)
    return chained


# Bytes of each file of this process's own known to be chained: an idle journal costs no query.
_chained_to: dict[str, int] = {}


def _drain_file(path: Path) -> int:
    chained = 0
    # Bounded: a file holds at most MAX_FILE_BYTES of lines (with a margin for lines of a kilobyte).
    for _ in range(MAX_FILE_BYTES // (BATCH_LINES * 1024) + 2):
        if _chained_to.get(path.name) == path.stat().st_size:
            break
        count, more = _chain_batch(path)
        chained += count
        if not more:
            break
    return chained


def _chain_batch(path: Path) -> tuple[int, bool]:
    alias = router.db_for_write(AuditEvent)
    if path.name not in _chained_to:
        AuditJournalCursor.objects.using(alias).get_or_create(name=path.name)
    with transaction.atomic(using=alias):
        # Locked: two drainers of one file take turns, and the second starts where the first ended.
        cursor = AuditJournalCursor.objects.using(alias).select_for_update().get(name=path.name)
        lines = []
        with path.open("rb") as file:
            file.seek(cursor.offset)
            while len(lines) < BATCH_LINES:
                line = file.readline()
                if not line.endswith(b"\n"):  # the end, or a line whose write never returned
                    break
                lines.append(line)
        chains: dict[str, list[AuditEvent]] = {}
        for line in lines:
            event = _event(line)
            chains.setdefault(chain_of(event.tenant_id), []).append(event)
        # In the order of their names, as every drainer locks them: two never wait for each other.
        for chain in sorted(chains):
            append_all(chains[chain])
        cursor.offset += sum(len(line) for line in lines)
        cursor.save(update_fields=["offset", "updated_at"])
    _chained_to[path.name] = cursor.offset
    return len(lines), len(lines) == BATCH_LINES


@dataclass(frozen=True)
class Backlog:
    """What a journal folder holds that is not chained yet."""

    pending_bytes: int
    oldest_event_seconds: float  # age of the oldest event not chained yet; 0 when there is none


def backlog(directory: Path) -> Backlog:
    """The folder's unchained lines: their bytes, and how long the oldest has waited (for /metrics)."""
    paths = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    chained = dict(
        AuditJournalCursor.objects.using(router.db_for_write(AuditEvent))
        .filter(name__in=[path.name for path in paths])
        .values_list("name", "offset")
    )
    pending, oldest = 0, None
    for path in paths:
        offset = chained.get(path.name, 0)
        try:
            with path.open("rb") as file:
                size = os.fstat(file.fileno()).st_size
                file.seek(offset)
                first = file.readline()
        except FileNotFoundError:  # drained and deleted meanwhile
            continue
        if size > offset and first.endswith(b"\n"):
            pending += size - offset
            waiting = _event(first).occurred_at
            oldest = waiting if oldest is None else min(oldest, waiting)
    age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
    return Backlog(pending, max(age, 0.0))


class Drainer(threading.Thread):
    """Chains the journal folder every `interval` seconds, and once more when stopped."""

    def __init__(self, journal: Journal, interval: float) -> None:
        super().__init__(name="audit-journal", daemon=True)
        self.journal = journal
        self.interval = interval
        self._stopping = threading.Event()
        self._failing_since: float | None = None
        self._warned_at = 0.0

    def run(self) -> None:
        while True:
            stopping = self._stopping.wait(self.interval)
            if stopping:
                # The file is finished: drained whole, it is deleted now rather than by the next process.
                self.journal.close()
            self.drain_once()
            if stopping:
                connections.close_all()
                return

    def drain_once(self) -> None:
        try:
            drain(self.journal.directory, own=self.journal.path)
        except Exception as error:
            # The events wait on disk and the next turn retries on a new connection. Said when it starts
            # failing and once a minute after (a database down for an hour is not 14,400 lines), with
            # the error's kind only: a database error's text may quote the values of a row.
            now = time.monotonic()
            self._failing_since = self._failing_since or now
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = now
                logger.warning(
                    "Audit journal not chained for %.0f s (%s); retrying",
                    now - self._failing_since,
                    type(error).__name__,
                )
            connections.close_all()
        else:
            self._failing_since = None

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.join(timeout)


_journal: Journal | None = None
_drainer: Drainer | None = None


def start() -> None:
    """Give this web process its journal and its drainer, when settings ask for them."""
    global _journal, _drainer
    if _journal is not None or not settings.PALISADE_AUDIT_JOURNAL:
        return
    _journal = Journal(Path(settings.PALISADE_AUDIT_JOURNAL_DIR))
    _drainer = Drainer(_journal, settings.PALISADE_AUDIT_JOURNAL_INTERVAL)
    _drainer.start()
    # Servers that end the process normally run this; uvicorn ends it with the signal it was sent, so
    # there the ASGI lifespan's shutdown calls stop() (portal/lifespan.py).
    atexit.register(stop)


def stop() -> None:
    """Chain what the last requests wrote and delete the finished file. After a crash, the next web
    process (or `manage.py drain_audit_journal`) does it instead."""
    if _drainer is not None and _drainer.is_alive():
        _drainer.stop()


def queue(event: AuditEvent) -> bool:
    """Write `event` to this process's journal, durably; False if the process has none."""
    if _journal is None:
        return False
    _journal.append(event)
    return True


def _forget_after_fork() -> None:
    # A forked child has neither the parent's drainer thread nor any right to its file: it writes
    # its events straight into their chains.
    global _journal
    _journal = None


os.register_at_fork(after_in_child=_forget_after_fork)
