"""Settings for the test suite: the product's settings, with the suite's own var/ folder so that a
running `make run` (its database, broker folder and worker) is never touched by tests."""

import os
from pathlib import Path

os.environ.setdefault("PALISADE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
# The test client and the live server speak plain HTTP.
os.environ.setdefault("PALISADE_HTTPS", "false")

from portal.settings import *  # noqa: F403

# Argon2 is deliberately slow; the suite creates many users. Production hashing is tested in
# tests/test_passwords.py against the product settings.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files from the apps' folders, without a collectstatic step before every run.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
