"""Readiness checks behind /readyz: can this node serve requests right now?

Each check touches the real dependency — a query on the database, a connection to the broker, a write,
read back and delete of a small probe object in every storage region, a wrap and unwrap with the master
key — and is given a short time limit of its own: a dependency that hangs (a black-holed S3 endpoint, a
PostgreSQL pool waiting for a connection) makes the probe answer "unavailable" quickly rather than hang
the load balancer's probe. The checks run concurrently, each in a thread of its own; a check still
running after its limit is abandoned (it ends at its client's own timeout) and reported as "timeout".

Results name the dependency and the kind of failure (an exception class), never a path, a host or a
credential: /readyz is answered to anyone who can reach it.
"""

import logging
import os
import secrets
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connections

logger = logging.getLogger(__name__)

OK = "ok"
# Seconds each check may take before it is reported as "timeout".
DEFAULT_TIMEOUT = 3.0
# Probe objects live under this prefix in every region, apart from the objects' server-generated names.
PROBE_PREFIX = "_readiness"


class CheckFailed(Exception):
    """A check's dependency answered, but not as it must: `str()` is the short reason reported."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], None]


def check_database() -> None:
    """A query on the default database, on a connection of this thread (closed, or given back to the
    pool, afterwards), so that a dead connection elsewhere cannot answer for it."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone()[0] != 1:
                raise CheckFailed("unexpected answer")
    finally:
        connection.close()


def check_broker() -> None:
    """A fresh connection to the broker from the settings, not the Celery app's pool: a probe must not
    be answered by a connection that was alive a minute ago."""
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def check_storage_region(region: str) -> None:
    """Write, read back and delete a small probe object through the region's storage, as ingestion
    writes objects: a read-only, full, unmounted-and-replaced or unreachable region fails here."""
    from imaging.storage import region_storage

    storage = region_storage(region)
    payload = secrets.token_bytes(32)
    name = f"{PROBE_PREFIX}/{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
    saved = storage.save(name, ContentFile(payload))
    try:
        with storage.open(saved, "rb") as probe:
            if probe.read() != payload:
                raise CheckFailed("probe object read back differs")
    finally:
        storage.delete(saved)


def check_key_provider() -> None:
    """The master key can be had and used: for the key file, the file is still there, private and
    whole (and is the key this process uses); for an HSM, the session is open. Then a random key is
    wrapped and unwrapped. Never creates a key: a master key missing here means wrapped keys that
    nothing can unwrap any more, which must take the node out of rotation, not start a new key."""
    from imaging.crypto.providers import MASTER_KEY_BYTES, get_master_key_provider

    if settings.PALISADE_KEY_PROVIDER == "file":
        path = Path(settings.PALISADE_MASTER_KEY_FILE)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            if _keys_were_wrapped():
                raise CheckFailed("master key file missing") from None
            # A new installation that has not wrapped a key yet: the embedded default creates the
            # master key on first use (docs/keys.md), as the provider does here.
            get_master_key_provider()
            mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise CheckFailed("master key file is not a file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CheckFailed("master key file is open to other users")
        if len(path.read_bytes()) != MASTER_KEY_BYTES:
            raise CheckFailed("master key file is not a whole key")
    provider = get_master_key_provider()
    probe = secrets.token_bytes(32)
    if provider.unwrap(provider.wrap(probe)) != probe:
        raise CheckFailed("wrap and unwrap disagree")
    if settings.PALISADE_KEY_PROVIDER == "file":
        from imaging.crypto.providers import file_key_id

        if file_key_id(Path(settings.PALISADE_MASTER_KEY_FILE).read_bytes()) != provider.key_id:
            raise CheckFailed("master key file differs from the key in use")


def _keys_were_wrapped() -> bool:
    """Whether any tenant key was wrapped by a master key (any clinic's: counted outside scopes)."""
    from imaging.crypto.models import TenantKey
    from portal.tenancy import all_tenants_scope

    try:
        with all_tenants_scope():
            return TenantKey.objects.exists()
    finally:
        connections.close_all()


def readiness_checks() -> list[Check]:
    checks = [
        Check("database", check_database),
        Check("broker", check_broker),
        Check("key_provider", check_key_provider),
    ]
    checks += [
        Check(f"storage:{region}", lambda region=region: check_storage_region(region))
        for region in settings.PALISADE_STORAGE
    ]
    return checks


def run_checks(checks: list[Check], timeout: float | None = None) -> dict[str, str]:
    """Each check's result: "ok", "timeout", or a short reason. Runs them concurrently; waits at most
    `timeout` seconds (PALISADE_READINESS_TIMEOUT) in all."""
    timeout = settings.PALISADE_READINESS_TIMEOUT if timeout is None else timeout
    results: dict[str, str] = {}
    threads: list[tuple[Check, threading.Thread]] = []
    for check in checks:
        thread = threading.Thread(
            target=_run_one, args=(check, results), name=f"readiness-{check.name}", daemon=True
        )
        thread.start()
        threads.append((check, thread))
    deadline = time.monotonic() + timeout
    for check, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            logger.warning("Readiness: %s check timed out after %.1f s", check.name, timeout)
            results[check.name] = "timeout"
    return {check.name: results.get(check.name, "timeout") for check in checks}


def _run_one(check: Check, results: dict[str, str]) -> None:
    try:
        check.run()
    except CheckFailed as exc:
        logger.warning("Readiness: %s check failed: %s", check.name, exc)
        results.setdefault(check.name, str(exc))
    except Exception as exc:
        # The class name only: messages of storage and database errors may carry paths and hosts.
        logger.warning("Readiness: %s check failed: %s", check.name, type(exc).__name__)
        results.setdefault(check.name, f"unavailable ({type(exc).__name__})")
    else:
        results.setdefault(check.name, OK)
    finally:
        # Connections opened by this thread are its own; close them so none is left behind.
        connections.close_all()
