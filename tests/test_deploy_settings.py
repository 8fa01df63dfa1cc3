"""Production-like settings pass Django's deployment checklist, and the defaults are the safe ones."""

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def _manage(tmp_path, *args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PALISADE_", "DJANGO_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"))
    }
    env.update(
        {"DJANGO_SETTINGS_MODULE": "portal.settings", "PALISADE_VAR_DIR": str(tmp_path), **env_overrides}
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_reports_nothing_with_production_like_settings(tmp_path):
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="portal.example.org",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_any_setting_debug_is_off_https_protections_are_on_and_passwords_use_argon2(tmp_path):
    result = _manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, len(s.SECRET_KEY) >= 50,"
        " s.PASSWORD_HASHERS[0].endswith('.Argon2PasswordHasher'))",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["False", "True", "True", "True", "True", "True", "True"]


def test_the_generated_secret_key_is_kept_private_and_reused(tmp_path):
    read_key = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _manage(tmp_path, "shell", "-c", read_key).stdout.splitlines()[-1]
    second = _manage(tmp_path, "shell", "-c", read_key).stdout.splitlines()[-1]

    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
