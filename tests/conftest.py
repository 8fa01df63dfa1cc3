import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from imaging.storage import region_storage
from tests.factories import MembershipFactory, TenantFactory
from tests.workers import WorkerProcess

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


@pytest.fixture(autouse=True)
def _force_login_includes_the_second_factor(monkeypatch):
    """`client.force_login(user)` stands for a finished sign-in, second factor included: without one,
    every member of staff would be held at the enrolment page (accounts/mfa). The second factor itself
    is tested through its pages, signing in with the forms (tests/test_mfa.py, tests/test_mfa_browser.py)."""
    from django.test.client import ClientMixin

    from tests.mfa import verify_client_session

    force_login = ClientMixin.force_login

    def force_login_with_second_factor(self, user, backend=None):
        force_login(self, user, backend)
        verify_client_session(self, user)

    monkeypatch.setattr(ClientMixin, "force_login", force_login_with_second_factor)


@pytest.fixture
def tiny_disk(tmp_path, settings):
    """Region eu-1 on a 256 KiB tmpfs, so that the disk really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], check=True)
    settings.PALISADE_STORAGE = {
        **settings.PALISADE_STORAGE,
        "eu-1": {"jurisdiction": "EU", "location": str(mount_point)},
    }
    region_storage.cache_clear()
    yield mount_point
    region_storage.cache_clear()
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture
def worker_factory(transactional_db):
    """Start real Celery worker processes on the suite's broker and test database (never eager mode);
    every worker still running is stopped at the end of the test."""
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    started: list[WorkerProcess] = []

    def start(name: str = "worker", **env: str) -> WorkerProcess:
        worker = WorkerProcess(name, database_url(connection.settings_dict), Path(settings.VAR_DIR), env)
        started.append(worker)
        worker.wait_until_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def celery_worker_process(worker_factory):
    return worker_factory()


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
