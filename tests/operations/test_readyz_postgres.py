"""/readyz of a running portal follows its PostgreSQL: a private cluster of the test's own (never the
machine's main one, which the test run itself uses) is stopped under the portal and started again."""

import json
import time

import pytest

from tests.operations.services import PrivatePostgres, get, manage, portal_server, subprocess_env


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def _readyz(base: str) -> tuple[int, dict]:
    started = time.monotonic()
    status, body = get(base + "/readyz", timeout=20)
    assert time.monotonic() - started < 15, "a readiness probe must answer within its time limits"
    return status, json.loads(body) if body else {}


def test_readyz_fails_while_postgresql_is_down_and_recovers_when_it_returns(private_postgres, tmp_path):
    env = subprocess_env(tmp_path / "var", DATABASE_URL=private_postgres.url, ALLOWED_HOSTS="127.0.0.1")
    migrated = manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    with portal_server(env, tmp_path / "uvicorn.log") as base:
        status, body = _readyz(base)
        assert status == 200, body
        assert body["checks"]["database"] == "ok"

        private_postgres.stop()
        status, body = _readyz(base)
        assert status == 503, body
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] != "ok"
        assert "worker" not in body["checks"]  # not asked of a database that is down
        # Liveness is not readiness: the process itself is fine.
        assert get(base + "/healthz")[0] == 200

        private_postgres.start()
        deadline = time.monotonic() + 30
        while (status := _readyz(base)[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200, (tmp_path / "uvicorn.log").read_text()[-3000:]
