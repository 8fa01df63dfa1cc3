"""imaging.ingest.batching: the jobs a DICOM association stores one at a time are queued for indexing a
batch at a time, bounded in size and in how long the first of them waits."""

import threading
import time

from imaging.ingest.batching import IndexBatcher


class Queued:
    """Stands in for the broker: records each batch handed over, and from which thread."""

    def __init__(self):
        self.batches: list[list] = []
        self.threads: list[str] = []
        self.arrived = threading.Event()

    def __call__(self, jobs: list) -> None:
        self.batches.append(list(jobs))
        self.threads.append(threading.current_thread().name)
        self.arrived.set()


def test_jobs_wait_for_the_batch_to_fill_and_a_full_batch_goes_at_once():
    queued = Queued()
    batcher = IndexBatcher(queued, size=3, delay=60)
    batcher.add(["a"])
    batcher.add(["b"])
    assert queued.batches == []
    batcher.add(["c", "d"])
    assert queued.batches == [["a", "b", "c", "d"]]
    batcher.add(["e"])
    batcher.flush()
    assert queued.batches == [["a", "b", "c", "d"], ["e"]]
    batcher.flush()
    assert len(queued.batches) == 2, "nothing held, nothing queued"


def test_the_first_job_waits_no_longer_than_the_delay():
    queued = Queued()
    batcher = IndexBatcher(queued, size=100, delay=0.2)
    started = time.monotonic()
    batcher.add(["a"])
    batcher.add(["b"])
    assert queued.arrived.wait(timeout=10)
    assert queued.batches == [["a", "b"]]
    assert time.monotonic() - started < 5
    assert queued.threads[0] != threading.current_thread().name, "queued by the timer"
    # The timer does not fire again for a batch already gone.
    time.sleep(0.4)
    assert len(queued.batches) == 1


def test_a_batch_queued_by_the_sender_cancels_its_timer():
    queued = Queued()
    batcher = IndexBatcher(queued, size=2, delay=0.2)
    batcher.add(["a"])
    batcher.add(["b"])
    time.sleep(0.4)
    assert queued.batches == [["a", "b"]]


def test_jobs_added_from_many_threads_are_each_queued_once():
    queued = Queued()
    batcher = IndexBatcher(queued, size=7, delay=0.05)

    def send(prefix: str) -> None:
        for n in range(50):
            batcher.add([f"{prefix}{n}"])

    senders = [threading.Thread(target=send, args=(name,)) for name in "wxyz"]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    batcher.flush()
    queued_jobs = [job for batch in queued.batches for job in batch]
    assert sorted(queued_jobs) == sorted(f"{p}{n}" for p in "wxyz" for n in range(50))
    assert all(len(batch) <= 7 for batch in queued.batches)
