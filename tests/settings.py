"""Settings for the test suite: the product's settings, with a var/ folder, a task queue and a test
database of each run's own, so that neither a running `make run` nor another test run on the same
machine (a developer's beside CI's) is ever touched. The worker processes the suite starts inherit
the same environment, hence the same folder, queue and database."""

import os
import tempfile
import uuid
from pathlib import Path

_RUN = uuid.uuid4().hex[:12]
_RUNS_DIR = Path(__file__).resolve().parent.parent / "var" / "test-runs"
_RUNS_DIR.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PALISADE_TEST_RUN", _RUN)
os.environ.setdefault(
    "PALISADE_VAR_DIR", tempfile.mkdtemp(prefix=f"{os.environ['PALISADE_TEST_RUN']}-", dir=_RUNS_DIR)
)
# The OHIF viewer is installed once per checkout by `make test` (the Makefile's viewer step), not per run.
os.environ.setdefault("PALISADE_VIEWER_DIR", str(_RUNS_DIR.parent / "viewer"))
# The test client and the live server speak plain HTTP.
os.environ.setdefault("PALISADE_HTTPS", "false")
# Tests read the audit trail right after the request that wrote it: events go straight into their chains
# unless a test of the journal itself turns it on (tests/test_audit_journal.py).
os.environ.setdefault("PALISADE_AUDIT_JOURNAL", "false")
os.environ.setdefault("PALISADE_TASK_QUEUE", f"palisade-test-{os.environ['PALISADE_TEST_RUN']}")

from portal.settings import *  # noqa: E402, F403

if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405 (django-prometheus wraps it)
    DATABASES["default"]["TEST"] = {"NAME": f"test_palisade_{os.environ['PALISADE_TEST_RUN']}"}  # noqa: F405
    # The suite empties the database between transactional tests with TRUNCATE, which the audit tables'
    # triggers refuse unless the session says so (audit/migrations/0007_hash_chain.py).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c palisade.audit_truncate=allowed"  # noqa: F405

# Argon2 is deliberately slow and the suite creates many users; that the product hashes with Argon2
# is tested in tests/test_deploy_settings.py against the product settings.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# In-process mail for the tests' own process; a worker sending the password reset e-mail is started
# with a file backend (tests/mail.py), since its memory is not the test's.
EMAIL_BACKEND = os.environ.get("PALISADE_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# Static files from the apps' folders, without a collectstatic step before every run.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
