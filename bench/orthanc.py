"""Debian's Orthanc with its DICOMweb plugin, started for one benchmark run and stopped after it.

The configuration is generated into a temporary folder: HTTP on a free port answering loopback
clients only (`RemoteAccessAllowed: false`), HTTP Basic authentication on with one registered user,
storage and index (Orthanc's default SQLite) in the folder, the DICOMweb plugin under `/dicom-web/`.
The DICOM listener is off unless `dicom=True`: then it listens on a free port (on every interface:
Orthanc 1.10 has no bind-address setting) and takes C-STORE and C-ECHO from one registered modality
only, the bench's calling AE title from 127.0.0.1, as Palisade's listener does. Everything else keeps
Orthanc's defaults, so the comparison is with the server as a clinic would install it
(`apt-get install orthanc orthanc-dicomweb`); `options` overrides configuration keys for experiments.
"""

import json
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import requests
from common import CALLING_AE, LOOPBACK, ManagedServer, free_port, port_open, stop_process, tail, wait_until

ORTHANC_BINARY = "Orthanc"
DICOMWEB_PLUGIN_CANDIDATES = (
    "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    "/usr/lib/orthanc/libOrthancDicomWeb.so",
)
START_TIMEOUT = 60.0
USER = "bench"
CALLED_AE = "ORTHANC"


def dicomweb_plugin_path() -> Path:
    """The plugin shipped by Debian's orthanc-dicomweb (asks dpkg, then the known paths)."""
    try:
        listed = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"],  # noqa: S607 (dpkg from PATH, as the Makefile uses it)
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = []
    for candidate in [p for p in listed if "libOrthancDicomWeb.so" in p] + list(DICOMWEB_PLUGIN_CANDIDATES):
        if Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(
        "Orthanc's DICOMweb plugin is not installed: apt-get install orthanc orthanc-dicomweb dcmtk"
    )


def orthanc_version() -> str:
    try:
        out = subprocess.run(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
            [ORTHANC_BINARY, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        return out.stdout.splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


class OrthancServer(ManagedServer):
    """`with OrthancServer() as orthanc:` starts Orthanc, waits until it answers, stops it at the end."""

    name = "Orthanc"

    def __init__(self, keep_dir: bool = False, dicom: bool = False, options: dict | None = None):
        if shutil.which(ORTHANC_BINARY) is None:
            raise SystemExit("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb dcmtk")
        self.keep_dir = keep_dir
        self.options = options or {}
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.dicom_port = free_port() if dicom else None
        self.called_ae = CALLED_AE
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.dicomweb_url = f"{self.base_url}/dicom-web"
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "orthanc.log"

    def config(self) -> dict:
        storage = self.workdir / "storage"
        config = {
            "Name": "BenchOrthanc",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "TemporaryDirectory": str(self.workdir / "tmp"),
            "Plugins": [str(dicomweb_plugin_path())],
            "HttpServerEnabled": True,
            "HttpPort": self.port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: self.password},
            "SslEnabled": False,
            "DicomServerEnabled": False,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "SaveJobs": False,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Ssl": False},
        }
        if self.dicom_port is not None:
            config |= {
                "DicomServerEnabled": True,
                "DicomAet": CALLED_AE,
                "DicomPort": self.dicom_port,
                "DicomAlwaysAllowEcho": False,
                "DicomAlwaysAllowStore": False,
                "DicomCheckModalityHost": True,
                # Port 104 is never called: the bench's storescu only sends.
                "DicomModalities": {"bench": {"AET": CALLING_AE, "Host": LOOPBACK, "Port": 104}},
            }
        return config | self.options

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (USER, self.password)
        return session

    def start(self) -> None:
        (self.workdir / "tmp").mkdir()
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config(), indent=2))
        config_path.chmod(0o600)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own or Debian binaries, fixed arguments, no shell)
                [ORTHANC_BINARY, str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        session = self.session()

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{tail(self.log_path)}")
            try:
                return session.get(f"{self.base_url}/system", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until("Orthanc answers on its HTTP port", answers, START_TIMEOUT)
        if self.dicom_port is not None:
            wait_until("Orthanc's DICOM port accepts", lambda: port_open(self.dicom_port), START_TIMEOUT)
        # Authentication must be on: an anonymous request is refused.
        if requests.get(f"{self.base_url}/system", timeout=5).status_code != 401:
            raise RuntimeError("Orthanc answered an anonymous request: authentication is off")

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process and self.process.poll() is None else []

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        if not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # The driver's interface ------------------------------------------------------------------------

    def store_url(self) -> str:
        return self.dicomweb_url

    def visible_instances(self, session: requests.Session, study_uid: str) -> int:
        """How many instances of the study QIDO-RS returns."""
        response = session.get(
            f"{self.dicomweb_url}/studies/{study_uid}/instances",
            headers={"Accept": "application/dicom+json"},
            params={"includefield": "00080018"},
            timeout=30,
        )
        if response.status_code == 204 or not response.content:
            return 0
        response.raise_for_status()
        return len(response.json())
