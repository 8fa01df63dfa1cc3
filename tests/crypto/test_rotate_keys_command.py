import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from imaging.crypto.keys import study_data_key
from portal.tenancy import tenant_scope
from tests.conftest import ROOT, database_url
from tests.factories import StudyFactory


def rotate(slug: str) -> str:
    out = io.StringIO()
    call_command("rotate_keys", "--tenant", slug, stdout=out)
    return out.getvalue()


def test_rotate_keys_reports_the_new_version_and_the_study_keys_rewrapped(tenant, other_tenant):
    for study in [
        StudyFactory(tenant=tenant),
        StudyFactory(tenant=tenant),
        StudyFactory(tenant=other_tenant),
    ]:
        with tenant_scope(study.tenant):
            study_data_key(study)

    assert rotate("alpha") == "Tenant alpha: key version 2, 2 study keys re-wrapped.\n"
    assert rotate("alpha") == "Tenant alpha: key version 3, 2 study keys re-wrapped.\n"
    assert rotate("bravo") == "Tenant bravo: key version 2, 1 study keys re-wrapped.\n"


def test_rotate_keys_for_a_tenant_without_keys_creates_its_first_version(tenant):
    assert rotate("alpha") == "Tenant alpha: key version 1, 0 study keys re-wrapped.\n"


def test_rotate_keys_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        rotate("nope")


def test_rotate_keys_reports_a_key_provider_failure_in_one_line(tenant, settings):
    settings.PALISADE_KEY_PROVIDER = "vault"

    with pytest.raises(CommandError, match="PALISADE_KEY_PROVIDER must be 'file' or 'pkcs11'"):
        rotate("alpha")


def test_rotate_keys_exits_non_zero_with_a_one_line_reason(db, master_key_file):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PALISADE_MASTER_KEY_FILE": str(master_key_file),
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "rotate_keys", "--tenant", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["CommandError: No tenant with slug 'nope'."]
