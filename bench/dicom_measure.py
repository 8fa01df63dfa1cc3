"""What run_dicom.py measures on a loaded server, over plain HTTP with one keep-alive session:
QIDO-RS latency per kind of query, WADO-RS study retrieval throughput and time to the first frame.

Each session sends `Accept-Encoding` as asked. run_dicom.py asks for `identity` by default: on loopback
a compressed answer only costs the server CPU (Orthanc gzips JSON and frames when the client allows
it), while its benefit, fewer bytes on a real network, cannot show here.
"""

import calendar
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import requests
import synthetic
from common import DicomServer, percentile

REQUEST_TIMEOUT = 300.0
READ_SIZE = 1024 * 1024
# PS3.18 8.7.3.5.1: `transfer-syntax=*` lets each server send what it stores, so neither transcodes.
STUDY_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
QIDO_ACCEPT = "application/dicom+json"


@dataclass(frozen=True)
class Query:
    name: str
    path: str
    params: dict[str, str]


def qido_queries(corpus: synthetic.Corpus, limit: int) -> list[Query]:
    """Each kind of query, without and with `limit`, about study 0 of `corpus`: its patient's ID, its
    patient's family name's first three letters and `*`, the calendar month of its date, its series.
    The same queries are asked at every index size; the large index adds studies that match them."""
    study = synthetic.corpus_study(corpus.seed, 0)
    year, month = int(study.study_date[:4]), int(study.study_date[4:6])
    last_day = calendar.monthrange(year, month)[1]
    kinds = [
        Query("PatientID", "studies", {"PatientID": study.patient_id}),
        Query("PatientName wildcard", "studies", {"PatientName": study.patient_name[:3] + "*"}),
        Query(
            "StudyDate range", "studies", {"StudyDate": f"{year}{month:02d}01-{year}{month:02d}{last_day}"}
        ),
        Query("series of study", f"studies/{corpus.study_uid(0)}/series", {}),
    ]
    limited = [Query(f"{q.name}, limit {limit}", q.path, q.params | {"limit": str(limit)}) for q in kinds]
    return kinds + limited


def _qido(session: requests.Session, base_url: str, query: Query) -> tuple[float, int]:
    """(seconds, number of results) of one query, the whole answer read and parsed."""
    # `*` goes as is: Orthanc 1.10 does not decode a percent-encoded one (%2A) and then matches nothing.
    url = f"{base_url}/{query.path}?{urlencode(query.params, safe='*')}"
    started = time.perf_counter()
    response = session.get(url, headers={"Accept": QIDO_ACCEPT}, timeout=REQUEST_TIMEOUT)
    response.raise_for_status()
    results = len(response.json()) if response.status_code != 204 and response.content else 0
    return time.perf_counter() - started, results


def reading_session(server: DicomServer, accept_encoding: str) -> requests.Session:
    session = server.session()
    session.headers["Accept-Encoding"] = accept_encoding
    return session


def qido_latency(
    server: DicomServer, queries: list[Query], repeat: int, budget: float, accept_encoding: str
) -> dict[str, dict]:
    """qido_side_by_side with one server: its figures per query."""
    return qido_side_by_side({"server": server}, queries, repeat, budget, accept_encoding)["server"]


def qido_side_by_side(
    servers: dict[str, DicomServer], queries: list[Query], repeat: int, budget: float, accept_encoding: str
) -> dict[str, dict[str, dict]]:
    """Ask every query of every server once to warm up, then in rounds, `repeat` rounds or until
    `budget` seconds have passed (at least one round). In a round each query goes to every server in
    turn, the first server changing from round to round: a machine whose speed wanders over the minutes
    slows every server alike. Per server, per query: p50/p95 in ms, samples, results."""
    sessions = {name: reading_session(server, accept_encoding) for name, server in servers.items()}
    counts = {
        name: {query.name: _qido(sessions[name], server.dicomweb_url, query)[1] for query in queries}
        for name, server in servers.items()
    }
    samples = {name: {query.name: [] for query in queries} for name in servers}
    deadline = time.monotonic() + budget
    for round_number in range(repeat):
        for query in queries:
            for name in _turns(list(servers), round_number):
                seconds, results = _qido(sessions[name], servers[name].dicomweb_url, query)
                if results != counts[name][query.name]:
                    raise RuntimeError(
                        f"{servers[name].name}: {query.name} found {counts[name][query.name]}, then {results}"
                    )
                samples[name][query.name].append(seconds)
        if time.monotonic() > deadline:
            break
    return {
        name: {
            query: {
                "results": counts[name][query],
                "samples": len(values),
                "p50_ms": percentile(values, 0.50) * 1000,
                "p95_ms": percentile(values, 0.95) * 1000,
            }
            for query, values in by_query.items()
        }
        for name, by_query in samples.items()
    }


def _turns(names: list[str], number: int) -> list[str]:
    """The order in which the servers are asked in turn `number`: rotated by one each turn."""
    shift = number % len(names)
    return names[shift:] + names[:shift]


def _retrieve_study(session: requests.Session, url: str) -> tuple[float, int, str]:
    """(seconds, body bytes after any content coding is undone, the content coding) of one retrieval."""
    started = time.perf_counter()
    with session.get(url, headers={"Accept": STUDY_ACCEPT}, stream=True, timeout=REQUEST_TIMEOUT) as response:
        response.raise_for_status()
        received = sum(len(chunk) for chunk in response.iter_content(READ_SIZE))
        coding = response.headers.get("Content-Encoding", "identity")
    return time.perf_counter() - started, received, coding


def _first_frame(session: requests.Session, url: str) -> tuple[float, float]:
    """(seconds to the first byte of the body, seconds to its end) of one frame retrieval."""
    started = time.perf_counter()
    with session.get(url, headers={"Accept": FRAME_ACCEPT}, stream=True, timeout=REQUEST_TIMEOUT) as response:
        response.raise_for_status()
        # Raw reads: the bytes as sent, whatever their content coding; only their timing matters here.
        if not response.raw.read(1, decode_content=False):
            raise RuntimeError(f"empty answer from {url}")
        first_byte = time.perf_counter() - started
        while response.raw.read(READ_SIZE, decode_content=False):
            pass
    return first_byte, time.perf_counter() - started


def wado(
    servers: dict[str, DicomServer],
    corpus: synthetic.Corpus,
    repeat: int,
    frame_samples: int,
    accept_encoding: str,
) -> dict[str, dict]:
    """Per server: study 0 of the corpus retrieved whole, `repeat` times (median MB/s), then frame 1 of
    `frame_samples` of its instances, each a different one (first-byte p50/p95). Each retrieval goes to
    every server in turn, the first server changing from one to the next, as in qido_side_by_side."""
    sessions = {name: reading_session(server, accept_encoding) for name, server in servers.items()}
    study_path = f"studies/{corpus.study_uid(0)}"
    runs: dict[str, list[tuple[float, int, str]]] = {name: [] for name in servers}
    for number in range(repeat):
        for name in _turns(list(servers), number):
            runs[name].append(_retrieve_study(sessions[name], f"{servers[name].dicomweb_url}/{study_path}"))

    seed, total = corpus.study_seed(0), corpus.study_instances(0)
    series_count = corpus.study_series(0)
    picks = sorted({index * total // frame_samples for index in range(min(frame_samples, total))})
    first_bytes: dict[str, list[float]] = {name: [] for name in servers}
    whole: dict[str, list[float]] = {name: [] for name in servers}
    for number, index in enumerate(picks):
        series_index, _ = synthetic.series_position(index, total, series_count)
        frame_path = (
            f"{study_path}/series/{synthetic.series_uid(seed, series_index)}"
            f"/instances/{synthetic.instance_uid(seed, index)}/frames/1"
        )
        for name in _turns(list(servers), number):
            first_byte, complete = _first_frame(sessions[name], f"{servers[name].dicomweb_url}/{frame_path}")
            first_bytes[name].append(first_byte)
            whole[name].append(complete)
    return {
        name: _wado_figures(servers[name], runs[name], first_bytes[name], whole[name]) for name in servers
    }


def _wado_figures(
    server: DicomServer, runs: list[tuple[float, int, str]], first_bytes: list[float], whole: list[float]
) -> dict:
    received = runs[0][1]
    if any(size != received for _, size, _ in runs):
        raise RuntimeError(f"{server.name}: study retrievals differ in size: {[run[1] for run in runs]}")
    seconds = statistics.median(run[0] for run in runs)
    return {
        "study_bytes": received,
        "study_seconds": seconds,
        "study_seconds_all": [round(run[0], 3) for run in runs],
        "study_content_coding": runs[0][2],
        "study_mb_per_s": received / 1e6 / seconds,
        "frame_samples": len(first_bytes),
        "first_frame_p50_ms": percentile(first_bytes, 0.50) * 1000,
        "first_frame_p95_ms": percentile(first_bytes, 0.95) * 1000,
        "frame_complete_p50_ms": percentile(whole, 0.50) * 1000,
    }


def loopback_ceiling(size: int, repeat: int) -> float:
    """MB/s of `repeat` retrievals (median) of `size` bytes, by the code that retrieves a study, from
    loopback_server.py: a server that sends them from memory. No server can be faster for this client
    on this machine, so it bounds what a ratio between two servers can reach."""
    server = subprocess.Popen(  # noqa: S603 (our own script, fixed arguments, no shell)
        [sys.executable, str(Path(__file__).with_name("loopback_server.py")), str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        session = requests.Session()
        runs = [_retrieve_study(session, f"http://127.0.0.1:{port}/study") for _ in range(repeat)]
        if any(received != size for _, received, _ in runs):
            raise RuntimeError(f"loopback server: expected {size} bytes, got {[run[1] for run in runs]}")
        return size / 1e6 / statistics.median(seconds for seconds, _, _ in runs)
    finally:
        server.kill()
        server.wait(timeout=10)
