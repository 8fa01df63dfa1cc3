"""Password reset e-mails, which a real Celery worker sends (accounts.tasks): the worker writes them to
files under the test run's var/mail, where the test reads them."""

import re
import time
from pathlib import Path

from django.conf import settings

FILE_BACKEND = {"PALISADE_TEST_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}


def start_mail_worker(worker_factory):
    """A worker sending mail to files; the mail of earlier tests of the run is cleared first."""
    for old in Path(settings.EMAIL_FILE_PATH).glob("*.log"):
        old.unlink()
    return worker_factory("mail", **FILE_BACKEND)


def mails(timeout: float = 60.0, count: int = 1) -> list[str]:
    """The first `count` e-mails the worker wrote, waiting up to `timeout` seconds for them."""
    folder = Path(settings.EMAIL_FILE_PATH)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.log"), key=lambda path: path.stat().st_mtime) if folder.exists() else []
        if len(files) >= count:
            return [path.read_text() for path in files]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} e-mails written within {timeout:.0f}s")


def reset_link(mail: str) -> str:
    return re.search(r"http://testserver(/accounts/reset/\S+)", mail).group(1)
