"""Getting a synthetic corpus into a benchmark server: C-STORE with dcmtk's `storescu` (measured), and
the large index (Orthanc: real instances through its REST API; Palisade: index rows written directly).
"""

import shlex
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import synthetic
from common import CALLING_AE, LOOPBACK, DicomServer, wait_until
from palisade import TENANT, PalisadeServer

STORESCU = "storescu"
PALISADE_INDEX_SCRIPT = Path(__file__).resolve().parent / "palisade_index.py"


@dataclass(frozen=True)
class Ingest:
    """One timed ingest: `sent_seconds` when the client was done, `seconds` when every instance was
    visible through QIDO-RS."""

    instances: int
    bytes: int
    sent_seconds: float
    seconds: float

    @property
    def instances_per_s(self) -> float:
        return self.instances / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds


def storescu_command(server: DicomServer, folder: Path, extra_args: str) -> list[str]:
    """`storescu` sending every file under `folder` (+sd) in one association, proposing only the SOP
    classes of the files (-R) in its default uncompressed transfer syntaxes, from the bench's calling
    AE title."""
    if shutil.which(STORESCU) is None:
        raise SystemExit("dcmtk's storescu is not installed: apt-get install dcmtk")
    return [
        STORESCU,
        "-aet",
        CALLING_AE,
        "-aec",
        server.called_ae,
        "+sd",
        "-R",
        *shlex.split(extra_args),
        LOOPBACK,
        str(server.dicom_port),
        str(folder),
    ]


def wait_corpus_visible(server: DicomServer, corpus: synthetic.Corpus, timeout: float, poll: float) -> float:
    """Poll QIDO-RS until every study of the corpus shows all its instances; the monotonic time then.
    A study seen complete is not asked again."""
    session = server.session()
    pending = {corpus.study_uid(k): corpus.study_instances(k) for k in range(corpus.studies)}

    def all_visible() -> float | None:
        for uid, expected in list(pending.items()):
            if server.visible_instances(session, uid) < expected:
                return None
            del pending[uid]
        return time.monotonic()

    return wait_until(f"{server.name}: all {corpus.instances} instances visible", all_visible, timeout, poll)


def ingest_with_storescu(
    server: DicomServer, folder: Path, corpus: synthetic.Corpus, extra_args: str, timeout: float, poll: float
) -> Ingest:
    """C-STORE every file of `folder` (the corpus) with storescu; the clock runs from the start of
    storescu until QIDO-RS shows every instance."""
    size = sum(path.stat().st_size for path in folder.iterdir())
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
        storescu_command(server, folder, extra_args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    sent = time.monotonic()
    output = result.stdout + result.stderr
    # storescu exits 0 even when the peer refused some instances: its log says so.
    if result.returncode != 0 or "Store Failed" in output or "E:" in output:
        tail = "\n".join(output.splitlines()[-20:])
        raise RuntimeError(f"{server.name}: storescu failed (exit {result.returncode}):\n{tail}")
    visible = wait_corpus_visible(server, corpus, max(timeout - (sent - started), 1.0), poll)
    return Ingest(corpus.instances, size, sent - started, visible - started)


def post_to_orthanc(server: DicomServer, payloads: list[bytes], concurrency: int, timeout: float) -> Ingest:
    """POST each PS3.10 object to Orthanc's REST `/instances`, `concurrency` requests in flight. Orthanc
    indexes inside the request, so the last answer is the end of the ingest."""
    local = threading.local()
    deadline = time.monotonic() + timeout

    def post(payload: bytes) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Orthanc: REST load not done within {timeout:.0f} s; try --large-instances")
        if not hasattr(local, "session"):
            local.session = server.session()
        response = local.session.post(
            f"{server.base_url}/instances",
            data=payload,
            headers={"Content-Type": "application/dicom"},
            timeout=60,
        )
        response.raise_for_status()
        if response.json().get("Status") not in ("Success", "AlreadyStored"):
            raise RuntimeError(f"Orthanc refused an instance: {response.text[:300]}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in pool.map(post, payloads):
            pass
    seconds = time.monotonic() - started
    return Ingest(len(payloads), sum(map(len, payloads)), seconds, seconds)


def index_into_palisade(server: PalisadeServer, corpus: synthetic.Corpus, timeout: float) -> Ingest:
    """Write the corpus's index rows into Palisade's database (bench/palisade_index.py)."""
    started = time.monotonic()
    server.run_python(
        PALISADE_INDEX_SCRIPT,
        TENANT,
        corpus.seed,
        str(corpus.instances),
        str(corpus.study_size),
        str(corpus.series_per_study),
        str(corpus.size),
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    return Ingest(corpus.instances, 0, seconds, seconds)


def check_study_indexed(server: DicomServer, corpus: synthetic.Corpus, study_index: int) -> None:
    """Fail unless QIDO-RS shows every instance of one study of the corpus: the load really landed."""
    found = server.visible_instances(server.session(), corpus.study_uid(study_index))
    if found != corpus.study_instances(study_index):
        raise RuntimeError(
            f"{server.name}: study {study_index} of the large index shows {found} instances by QIDO-RS, "
            f"not {corpus.study_instances(study_index)}"
        )
