"""Helpers shared by the benchmarks: free loopback ports, bounded waits, process memory, the machine."""

import contextlib
import math
import os
import platform
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import requests

LOOPBACK = "127.0.0.1"
# The AE title the bench's storescu calls from; both servers register it for 127.0.0.1.
CALLING_AE = "BENCHSCU"


class DicomServer(Protocol):
    """What the DICOM benchmarks use of a server, Palisade's or Orthanc's."""

    name: str
    base_url: str
    dicomweb_url: str
    dicom_port: int | None
    called_ae: str

    def session(self) -> requests.Session: ...

    def visible_instances(self, session: requests.Session, study_uid: str) -> int: ...


class ManagedServer:
    """`with Server(...) as server:` starts it and always stops it, even when starting fails half-way."""

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0


def wait_until(description: str, check: Callable[[], object], timeout: float, interval: float = 0.2):
    """Call `check` until it returns something truthy, at most `timeout` seconds; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{description}: not within {timeout:.0f} s")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the process group started for `process` (start it with start_new_session=True), then
    SIGKILL it if it is still there after `timeout` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _status_kib(pid: int, field: str) -> int:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM) in KiB, 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (Linux /proc/<pid>/task/*/children)."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(k) for k in children.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


class MemorySampler:
    """Samples the resident memory of some process trees every `interval` seconds in a thread.

    `peak_rss_mb`: the highest sum of VmRSS over every process of the trees seen at one instant.
    `hwm_sum_mb`: the sum over every process ever seen of its own VmHWM (kernel peak RSS), an upper
    bound of the peak since the processes need not peak at once.
    """

    def __init__(self, root_pids: Callable[[], list[int]], interval: float = 0.1):
        self._root_pids = root_pids
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._hwm: dict[int, int] = {}
        self._peak_sum_kib = 0

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()

    def sample(self) -> None:
        pids = []
        for root in self._root_pids():
            pids.append(root)
            pids.extend(_children(root))
        total = 0
        for pid in set(pids):
            total += _status_kib(pid, "VmRSS")
            self._hwm[pid] = max(self._hwm.get(pid, 0), _status_kib(pid, "VmHWM"))
        self._peak_sum_kib = max(self._peak_sum_kib, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    @property
    def peak_rss_mb(self) -> float:
        return self._peak_sum_kib / 1024

    @property
    def hwm_sum_mb(self) -> float:
        return sum(self._hwm.values()) / 1024

    @property
    def processes(self) -> int:
        return len(self._hwm)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.95 for p95): a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def machine() -> str:
    def first(path: str, prefix: str) -> str:
        with open(path) as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith(prefix)), "")

    mem_gib = int(first("/proc/meminfo", "MemTotal").split()[0]) / 1024**2
    cpu = first("/proc/cpuinfo", "model name") or platform.processor()
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_gib:.1f} GiB RAM, {platform.platform()}"


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table; the first column is left-aligned, the others right."""
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
