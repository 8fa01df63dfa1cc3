"""The documented production settings (deploy/production.env.example) pass Django's deployment checklist
with no warning, and every setting Palisade reads from the environment is documented there and in the
settings reference (docs/settings.md)."""

import re

from django.conf import settings as django_settings

from tests.operations.services import ROOT, manage, subprocess_env

EXAMPLE = ROOT / "deploy" / "production.env.example"


def production_env() -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


def settings_read_from_the_environment() -> set[str]:
    source = (ROOT / "portal" / "settings.py").read_text()
    return set(re.findall(r'env\.[a-z]+\(\s*"([A-Z][A-Z0-9_]*)"', source))


def _test_database_url(tmp_path) -> str:
    """The suite's PostgreSQL server when the run is on PostgreSQL, else an SQLite file."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{tmp_path / 'check.sqlite3'}"


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = subprocess_env(tmp_path / "var")
    env.update(production_env())
    # What cannot be the example's own here: a database that exists, and a folder this test may write.
    env.update(
        DATABASE_URL=_test_database_url(tmp_path),
        PALISADE_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    assert env["DEBUG"] == "false" and env["PALISADE_HTTPS"] == "true"

    result = manage(env, "check", "--deploy", "--fail-level", "WARNING", "--database", "default", timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


def test_the_production_example_names_every_setting():
    missing = settings_read_from_the_environment() - set(production_env())
    assert not missing, f"deploy/production.env.example lacks {sorted(missing)}"


def test_the_settings_reference_has_a_row_for_every_setting():
    reference = (ROOT / "docs" / "settings.md").read_text()
    first_cells = [line.split("|")[1] for line in reference.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)}
    missing = settings_read_from_the_environment() - documented
    assert not missing, f"docs/settings.md lacks {sorted(missing)}"


def test_the_example_sets_nothing_palisade_does_not_read():
    unknown = (
        set(production_env())
        - settings_read_from_the_environment()
        - {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3 (docs/storage.md)
    )
    assert not unknown, f"deploy/production.env.example sets unknown {sorted(unknown)}"
