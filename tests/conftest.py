import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.factories import MembershipFactory, TenantFactory

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def database_url(settings_dict: dict) -> str:
    """The URL of the test database as pytest-django created it, for processes we start."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    auth = settings_dict["USER"] + (f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else "")
    return (
        f"postgres://{auth}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


def pytest_sessionfinish(session, exitstatus) -> None:
    # Each run has its own var/ folder (tests/settings.py); nothing in it outlives the run.
    var_dir = Path(settings.VAR_DIR)
    if var_dir.parent.name == "test-runs":
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_object_storage():
    """Each test starts with empty region storage (the database is rolled back; the files are not)."""
    yield
    shutil.rmtree(Path(settings.VAR_DIR) / "storage", ignore_errors=True)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process on the suite's broker and test database (no eager mode)."""
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
    }
    log = open(Path(settings.VAR_DIR) / "celery-worker.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname=palisade-test@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_worker(app, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_worker(app, process, timeout: float = 60.0) -> None:
    log = Path(settings.VAR_DIR) / "celery-worker.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {process.returncode}:\n{log.read_text()}")
        if "ready." in log.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"Celery worker not ready after {timeout}s:\n{log.read_text()}")


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="alpha", name="Alpha Imaging")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="bravo", name="Bravo Radiology")


@pytest.fixture
def member_factory(db):
    def make(tenant, role, **kwargs):
        return MembershipFactory(tenant=tenant, role=role, **kwargs).user

    return make


@pytest.fixture
def chromium_page():
    """A headless Debian Chromium page driven by Playwright (no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()
