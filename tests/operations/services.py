"""Real services of our own for the operations tests: a private PostgreSQL cluster, a private Redis, and
the portal served by uvicorn in a subprocess. Each is started on a free loopback port in a folder of its
own, can be stopped and started again, and every wait is bounded in time."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout} s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivatePostgres:
    """A PostgreSQL 15 cluster in a temporary folder, trust authentication on 127.0.0.1 only. Runs as the
    `postgres` OS user when the tests run as root (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / tool).exists():
                pytest.skip(f"PostgreSQL 15 server binaries missing ({PG_BIN / tool})")
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres OS user to run PostgreSQL as")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach it.
        self.base = Path(tempfile.mkdtemp(prefix="palisade-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        if self.run_as:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [*self.run_as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.base, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if not self.binary:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), 20, "redis-server listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        wait_until(lambda: not port_open(self.port), 20, "redis-server stopped")


def subprocess_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """The product's settings (not the tests'), with a var/ folder of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PALISADE_", "DJANGO_", "DATABASE_URL", "CELERY_", "SECRET_KEY", "ALLOWED_HOSTS")
        )
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PALISADE_VAR_DIR": str(var_dir),
            "PALISADE_HTTPS": "false",
            "PALISADE_VIEWER_DIR": os.environ.get("PALISADE_VIEWER_DIR", str(ROOT / "var" / "viewer")),
            **overrides,
        }
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def portal_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The portal as deployed (uvicorn, portal.asgi:application) on a free loopback port; its base URL."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-server-header",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or get(base + "/healthz")[0] == 200, 60, "uvicorn up")
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 15) -> tuple[int, bytes]:
    """Status and body; status 0 when nothing answered."""
    try:
        response = requests.get(url, headers=headers or {}, timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return 0, b""
    return response.status_code, response.content
