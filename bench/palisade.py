"""Palisade started as in production (the Procfile's web and worker processes) for one benchmark run.

A fresh PALISADE_VAR_DIR in a temporary folder holds the secret key, the master key, the storage
regions, the embedded SQLite database and kombu's file broker, so nothing of a developer's `var/` is
touched. With `database_url` (postgres://USER@127.0.0.1:5432/ANYTHING) a fresh database named
`palisade_bench_<random>` is created on that server with the URL's role (which needs CREATEDB, as
scripts/create-postgres-role.sh gives it) and dropped at the end. With `broker_url`
(redis://127.0.0.1:6379/0) Celery uses that broker, on a queue of its own, instead of the embedded
default, kombu's file transport under var/.

Processes, as in the Procfile: `uvicorn portal.asgi:application` (or the `asgi_app` given, such as
bench/asgi_without_audit.py's for run_audit_overhead.py) on a free loopback port and
`celery -A portal worker --concurrency=2` (the machine has 2 cores; the web process parses and
encrypts, the two worker processes index); with `dimse=True` also `manage.py dicom_scp` on a free
loopback port, with the bench's calling AE title registered for 127.0.0.1. Beat is not started: it
only runs the sweeper and a heartbeat, which no ingest waits for. Encryption is always on in Palisade
(envelope encryption with the file master key, the embedded default); there is no switch to turn it
off.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from common import CALLING_AE, LOOPBACK, ManagedServer, free_port, port_open, stop_process, tail, wait_until

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0
COMMAND_TIMEOUT = 300.0
TENANT = "bench"
EMAIL = "bench-technologist@bench.example"
ROLE = "technologist"

# Settings that a developer's shell may carry and that would point the bench at other services.
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "PALISADE_TASK_QUEUE",
    "PALISADE_STORAGE",
    "PALISADE_REGION",
    "PALISADE_MASTER_KEY_FILE",
    "PALISADE_KEY_PROVIDER",
    "SECRET_KEY",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
)


class PalisadeServer(ManagedServer):
    """`with PalisadeServer() as palisade:` prepares a clinic and an API token, starts the web server
    and the worker, and stops them (and drops the bench database) at the end."""

    name = "Palisade"

    def __init__(
        self,
        database_url: str | None = None,
        broker_url: str | None = None,
        worker_concurrency: int = 2,
        web_workers: int = 1,
        keep_dir: bool = False,
        dimse: bool = False,
        asgi_app: str = "portal.asgi:application",
        app_dir: Path | None = None,
    ):
        """`asgi_app` is what uvicorn serves, `module:attribute`; `app_dir` a folder put first on
        sys.path to import it from (uvicorn's --app-dir), for a bench module such as
        bench/asgi_without_audit.py. The defaults serve the product as the Procfile does."""
        self.database_url = database_url
        self.broker_url = broker_url
        self.queue = f"bench-{secrets.token_hex(4)}"
        self.worker_concurrency = worker_concurrency
        self.web_workers = web_workers
        self.keep_dir = keep_dir
        self.asgi_app = asgi_app
        self.app_dir = app_dir
        self.port = free_port()
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.dicomweb_url = f"{self.base_url}/dicomweb/{TENANT}"
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-palisade-"))
        self.var_dir = self.workdir / "var"
        self.password = "Bench-" + secrets.token_urlsafe(18)
        self.token = ""
        self.dicom_port = free_port() if dimse else None
        # The called AE title names the clinic: Tenant.ae_title, the slug upper-cased (docs/dimse.md).
        self.called_ae = TENANT.upper()
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.dimse: subprocess.Popen | None = None
        self._bench_db_url: str | None = None
        self._visibility_mode: str | None = None
        self._rest_session: requests.Session | None = None
        self.bin = Path(sys.executable).parent

    # Setup -----------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(
            {
                "PALISADE_VAR_DIR": str(self.var_dir),
                "PALISADE_HTTPS": "false",
                "ALLOWED_HOSTS": f"{LOOPBACK},localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self._bench_db_url:
            env["DATABASE_URL"] = self._bench_db_url
        if self.broker_url:
            # A queue of its own, so that no other worker on the same broker takes the bench's tasks.
            env["CELERY_BROKER_URL"] = self.broker_url
            env["PALISADE_TASK_QUEUE"] = self.queue
        return env

    def manage(self, *args: str) -> str:
        return self.run_python(ROOT / "manage.py", *args)

    def run_python(self, script: Path, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a Python script in Palisade's environment (its var dir and database); return its output."""
        result = subprocess.run(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
            [sys.executable, str(script), *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{script.name} {args[0]} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def _create_database(self) -> None:
        import psycopg

        parts = urlsplit(self.database_url)
        if parts.hostname not in (LOOPBACK, "localhost", "::1"):
            raise SystemExit("--database-url must point at a loopback PostgreSQL server")
        name = f"palisade_bench_{secrets.token_hex(4)}"
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._bench_db_url = urlunsplit(parts._replace(path=f"/{name}"))

    def _drop_database(self) -> None:
        if not self._bench_db_url:
            return
        import psycopg

        parts = urlsplit(self._bench_db_url)
        name = parts.path.lstrip("/")
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error as exc:
            print(f"warning: could not drop {name}: {exc}", file=sys.stderr)
        self._bench_db_url = None

    def prepare(self) -> None:
        self.var_dir.mkdir(parents=True)
        if self.database_url:
            self._create_database()
        self.manage("migrate", "--noinput", "--verbosity", "0")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.manage("create_tenant", TENANT, "--name", "Bench Clinic")
        self.manage("add_member", EMAIL, TENANT, ROLE, "--password", self.password)
        # Ingestion is refused until the clinic's agreements are in force (docs/agreements.md).
        self.manage(
            "accept_agreements", TENANT, "--signer", EMAIL, "--name", "Bench Signer", "--role", "Bench"
        )
        output = self.manage("create_api_token", EMAIL, TENANT).strip().splitlines()
        if not output:
            raise RuntimeError("create_api_token printed no token")
        self.token = output[-1].strip()
        if self.dicom_port is not None:
            self.manage("register_ae", TENANT, CALLING_AE, "--host", LOOPBACK)

    def start(self) -> None:
        self.prepare()
        self.web = self._spawn(
            "web",
            [
                str(self.bin / "uvicorn"),
                self.asgi_app,
                *(["--app-dir", str(self.app_dir)] if self.app_dir is not None else []),
                "--host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--no-server-header",
                "--workers",
                str(self.web_workers),
            ],
        )
        self.worker = self._spawn(
            "worker",
            [
                str(self.bin / "celery"),
                "-A",
                "portal",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.worker_concurrency}",
            ],
        )

        def healthy() -> bool:
            self._check_alive()
            try:
                return requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until("Palisade answers /healthz", healthy, START_TIMEOUT)

        def worker_ready() -> bool:
            self._check_alive()
            return bool(re.search(r"celery@\S+ ready\.", (self.workdir / "worker.log").read_text()))

        wait_until("the Celery worker is ready", worker_ready, START_TIMEOUT)
        if self.dicom_port is not None:
            self.dimse = self._spawn(
                "dimse",
                [
                    sys.executable,
                    str(ROOT / "manage.py"),
                    "dicom_scp",
                    "--host",
                    LOOPBACK,
                    "--port",
                    str(self.dicom_port),
                ],
            )

            def listening() -> bool:
                self._check_alive()
                return port_open(self.dicom_port)

            wait_until("Palisade's DICOM listener accepts", listening, START_TIMEOUT)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        with (self.workdir / f"{name}.log").open("wb") as log:
            return subprocess.Popen(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
                argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _check_alive(self) -> None:
        for name, process in (("web", self.web), ("worker", self.worker), ("dimse", self.dimse)):
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"Palisade {name} exited:\n{tail(self.workdir / f'{name}.log')}")

    def pids(self) -> list[int]:
        return [p.pid for p in (self.web, self.worker, self.dimse) if p is not None and p.poll() is None]

    def stop(self) -> None:
        for process in (self.web, self.worker, self.dimse):
            if process is not None:
                stop_process(process)
        if self.keep_dir:
            # What a later look needs: the folder, and the PostgreSQL database its settings name.
            if self._bench_db_url:
                print(f"kept {self.workdir} with database {self._bench_db_url}", file=sys.stderr)
            return
        self._drop_database()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # The driver's interface ------------------------------------------------------------------------

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def store_url(self) -> str:
        return self.dicomweb_url

    @property
    def visibility_mode(self) -> str:
        return self._visibility_mode or "undecided"

    def visible_instances(self, session: requests.Session, study_uid: str) -> int:
        """How many instances of the study a client can see: by QIDO-RS once Palisade serves it,
        until then by the REST study list (number_of_instances, counted by the indexing worker)."""
        if self._visibility_mode is None:
            self._visibility_mode = "qido" if self._qido_answers(session, study_uid) else "rest"
        if self._visibility_mode == "qido":
            return self._qido_count(session, study_uid)
        return self._rest_count(study_uid)

    def _qido_answers(self, session: requests.Session, study_uid: str) -> bool:
        try:
            response = self._qido(session, study_uid)
        except requests.RequestException:
            return False
        if response.status_code == 204:
            return True
        return response.status_code == 200 and "json" in response.headers.get("Content-Type", "")

    def _qido(self, session: requests.Session, study_uid: str) -> requests.Response:
        return session.get(
            f"{self.dicomweb_url}/studies/{study_uid}/instances",
            headers={"Accept": "application/dicom+json"},
            params={"includefield": "00080018"},
            timeout=30,
        )

    def _qido_count(self, session: requests.Session, study_uid: str) -> int:
        response = self._qido(session, study_uid)
        if response.status_code == 204 or not response.content:
            return 0
        response.raise_for_status()
        return len(response.json())

    def _rest(self) -> requests.Session:
        """A session the REST API accepts: the API token if it does, else a signed-in cookie session."""
        if self._rest_session is not None:
            return self._rest_session
        bearer = self.session()
        if bearer.get(f"{self.base_url}/api/v1/me/", timeout=10).status_code == 200:
            self._rest_session = bearer
            return bearer
        session = requests.Session()
        page = session.get(f"{self.base_url}/accounts/login/", timeout=10).text
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if match is None:
            raise RuntimeError("no CSRF token on the sign-in page")
        session.post(
            f"{self.base_url}/accounts/login/",
            data={"username": EMAIL, "password": self.password, "csrfmiddlewaretoken": match.group(1)},
            headers={"Referer": f"{self.base_url}/accounts/login/"},
            timeout=10,
        )
        if session.get(f"{self.base_url}/api/v1/me/", timeout=10).status_code != 200:
            raise RuntimeError("could not sign in to the REST API")
        self._rest_session = session
        return session

    def _rest_count(self, study_uid: str) -> int:
        response = self._rest().get(f"{self.base_url}/api/v1/tenants/{TENANT}/studies/", timeout=30)
        response.raise_for_status()
        for study in response.json()["results"]:
            if study["study_instance_uid"] == study_uid:
                return int(study["number_of_instances"])
        return 0


def wait_for_stow(timeout: float, interval: float = 30.0) -> bool:
    """Whether Palisade's STOW-RS route and create_api_token exist, checking until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        urls = ROOT / "imaging" / "dicomweb" / "urls.py"
        has_route = urls.is_file() and "studies" in urls.read_text()
        if has_route:
            check = subprocess.run(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
                [sys.executable, str(ROOT / "manage.py"), "help", "create_api_token"],
                cwd=ROOT,
                capture_output=True,
                timeout=120,
                check=False,
            )
            if check.returncode == 0:
                return True
        if time.monotonic() + interval > deadline:
            return False
        time.sleep(interval)
