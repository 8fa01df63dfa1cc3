"""Indexing messages for instances that arrive one at a time, sent a batch at a time.

A DICOM association stores its instances one C-STORE at a time, and each is answered once durably
spooled: one job per instance. Queued one task per job, the indexing of a 2,000-instance association
took 17 s after the sender had finished, since each task paid its fixed cost (a message, a
transaction, the study and series lookups) for a single instance, while a task indexes a batch for
little more than one (bench/README.md, issue 4). So the jobs an association stores are held briefly and
queued together: as soon as `size` are waiting, `delay` seconds after the first of them, and whatever
is left when the association ends.

Nothing is at risk while a job waits here: its object is durable and its row is in the database, queued.
If the process dies first, the ingest sweeper queues the job (imaging.tasks.requeue_stalled_ingest_jobs),
as it does for a job whose message the broker lost.
"""

import threading
from collections.abc import Callable

from imaging.models import IngestJob

# Bounded in count and time: the most a batch holds, and the longest its first job waits.
BATCH_SIZE = 100
BATCH_DELAY = 1.0


class IndexBatcher:
    """Collects the stored jobs of one sender (one clinic) and hands them to `enqueue` in batches.
    Safe to use from several threads: the sender's and the timer's."""

    def __init__(
        self,
        enqueue: Callable[[list[IngestJob]], None],
        *,
        size: int = BATCH_SIZE,
        delay: float = BATCH_DELAY,
    ):
        self._enqueue = enqueue
        self._size = size
        self._delay = delay
        self._lock = threading.Lock()
        self._pending: list[IngestJob] = []
        self._timer: threading.Timer | None = None

    def add(self, jobs: list[IngestJob]) -> None:
        """Hold `jobs` (committed, queued) for the next batch; queue the batch if it is full."""
        with self._lock:
            self._pending.extend(jobs)
            if len(self._pending) < self._size:
                if self._pending and self._timer is None:
                    self._timer = threading.Timer(self._delay, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
            batch = self._take()
        self._enqueue(batch)

    def flush(self) -> None:
        """Queue whatever is held now (the timer's call, and the sender's at the end)."""
        with self._lock:
            batch = self._take()
        if batch:
            self._enqueue(batch)

    def _take(self) -> list[IngestJob]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        return batch
