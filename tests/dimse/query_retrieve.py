"""dcmtk's findscu, getscu and movescu against the listener, and storescp as a C-MOVE destination."""

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset, dcmread

from tests.dimse.conftest import COMMAND_SECONDS, LOOPBACK, free_port, run
from tests.ingest.samples import SAMPLES
from tests.ingest.test_pipeline import ingest

PATIENT_ROOT = "-P"
STUDY_ROOT = "-S"


def ingest_samples(tenant, *names: str) -> list[Dataset]:
    """Receive and index samples into `tenant`; their headers, for the UIDs."""
    headers = []
    for name in names:
        job = ingest(tenant, SAMPLES / name)
        assert job.state == "stored", job.error_reason
        headers.append(dcmread(SAMPLES / name, stop_before_pixels=True))
    return headers


def keys(**attributes: str) -> list[str]:
    """`-k Keyword=value` arguments, in order; an empty value asks for the attribute to be returned."""
    arguments = []
    for keyword, value in attributes.items():
        arguments += ["-k", f"{keyword}={value}"]
    return arguments


@dataclass
class Answer:
    """What a dcmtk SCU run in debug mode printed: the final response's status and sub-operation
    counts, and the C-FIND responses it wrote to files."""

    output: str
    responses: list[Dataset]

    @property
    def status(self) -> int:
        """The Status (0000,0900) of the last response received."""
        found = re.findall(r"DIMSE Status\s*:\s*0x([0-9a-fA-F]{4})", self.output)
        assert found, self.output
        return int(found[-1], 16)

    @property
    def counts(self) -> dict[str, int]:
        """The sub-operation counts of the last C-GET or C-MOVE response that carried them."""
        counts = {}
        for name in ("Remaining", "Completed", "Failed", "Warning"):
            found = re.findall(rf"{name} Suboperations\s*:\s*(\d+)", self.output)
            if found:
                counts[name.lower()] = int(found[-1])
        return counts

    def values(self, keyword: str) -> list[str]:
        """The value of `keyword` in each C-FIND response, sorted."""
        return sorted(str(response.get(keyword, "")) for response in self.responses)


def find(port: int, calling: str, called: str, model: str, query: list[str], out_dir: Path) -> Answer:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("rsp*.dcm"):
        old.unlink()
    result = _scu("findscu", port, calling, called, model, *query, "-X", "-od", out_dir)
    return Answer(result.stdout, [dcmread(path) for path in sorted(out_dir.glob("rsp*.dcm"))])


def get(
    port: int, calling: str, called: str, model: str, query: list[str], out_dir: Path, *options: str
) -> Answer:
    """getscu, writing each instance received exactly as it came (+B) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = _scu("getscu", port, calling, called, model, "+B", *options, *query, "-od", out_dir)
    return Answer(result.stdout, [])


def move(port: int, calling: str, called: str, destination: str, model: str, query: list[str]) -> Answer:
    result = _scu("movescu", port, calling, called, model, "-aem", destination, *query)
    return Answer(result.stdout, [])


def _scu(tool: str, port: int, calling: str, called: str, model: str, *arguments: str | Path):
    # Debug output: it prints every response's status and sub-operation counts.
    return run(tool, "-d", model, "-aet", calling, "-aec", called, *arguments, LOOPBACK, str(port))


@contextmanager
def storescp(ae_title: str, out_dir: Path, accepted: str = "+xa") -> Iterator[int]:
    """dcmtk's storescp on a free loopback port, accepting the transfer syntaxes `accepted` names (by
    default every one it knows) and writing each data set exactly as received (+B); its port."""
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (out_dir.parent / f"storescp-{port}.log").open("w")
    process = subprocess.Popen(
        ["storescp", "-v", "-aet", ae_title, accepted, "+B", "-od", str(out_dir), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_listener(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=COMMAND_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_for_listener(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + COMMAND_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storescp ended with status {process.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("storescp did not listen in time")
