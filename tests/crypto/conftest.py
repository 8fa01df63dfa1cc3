import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from imaging.crypto import keys

SOFTHSM_LIBRARY_CANDIDATES = [
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
]
TOKEN_LABEL = "palisade-test"
USER_PIN = "1234"


@dataclass(frozen=True)
class SoftHsmToken:
    library: str
    label: str
    pin: str


@pytest.fixture(autouse=True)
def master_key_file(settings, tmp_path):
    """Each test gets its own file master key: nothing under var/ is touched or shared."""
    settings.PALISADE_KEY_PROVIDER = "file"
    settings.PALISADE_MASTER_KEY_FILE = tmp_path / "keys" / "master.key"
    keys._unwrap_tenant_key.cache_clear()
    yield settings.PALISADE_MASTER_KEY_FILE
    keys._unwrap_tenant_key.cache_clear()


def _softhsm_library() -> str:
    for candidate in SOFTHSM_LIBRARY_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    listing = subprocess.run(["dpkg", "-L", "softhsm2"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        if line.endswith("/libsofthsm2.so"):
            return line
    pytest.fail("SoftHSM2 is not installed: run `make system-deps` (Debian package softhsm2).")


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory) -> SoftHsmToken:
    """A real SoftHSM2 token in a private token directory, initialised once per test session.

    Session-wide because a PKCS#11 library reads its configuration once, at C_Initialize.
    """
    if shutil.which("softhsm2-util") is None:
        pytest.fail("softhsm2-util is not installed: run `make system-deps` (Debian package softhsm2).")
    library = _softhsm_library()
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                TOKEN_LABEL,
                "--pin",
                USER_PIN,
                "--so-pin",
                "5678",
            ],
            check=True,
            capture_output=True,
        )
        yield SoftHsmToken(library=library, label=TOKEN_LABEL, pin=USER_PIN)


@pytest.fixture
def hsm_settings(settings, softhsm_token):
    """Configure the PKCS#11 provider on the SoftHSM2 token, with a master key of this test's own."""
    settings.PALISADE_KEY_PROVIDER = "pkcs11"
    settings.PALISADE_PKCS11_LIBRARY = softhsm_token.library
    settings.PALISADE_PKCS11_TOKEN = softhsm_token.label
    settings.PALISADE_PKCS11_PIN = softhsm_token.pin
    settings.PALISADE_PKCS11_KEY_LABEL = f"palisade-master-{os.urandom(4).hex()}"
    return settings
