"""`import_dicom` exits non-zero with one line while the clinic's agreements are not in force."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.agreements.conftest import accept_all, assert_nothing_stored, assert_refusal_recorded, expire_all
from tests.ingest.samples import SAMPLES

MESSAGE = (
    "Ingestion refused: Alpha Imaging has no Data Processing Agreement and Terms of service in force. "
    "A clinic admin can accept it at /t/alpha/agreements/."
)


def import_sample(tenant) -> str:
    out = io.StringIO()
    call_command("import_dicom", tenant.slug, str(SAMPLES / "CT_small.dcm"), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_import_is_refused_with_the_one_line_reason_and_nothing_is_stored(tenant):
    with pytest.raises(CommandError) as failure:
        import_sample(tenant)

    assert str(failure.value) == MESSAGE
    assert "\n" not in str(failure.value)
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "import")


def test_import_works_once_the_agreements_are_accepted(tenant, clinic_admin):
    accept_all(tenant, clinic_admin)

    output = import_sample(tenant)

    assert "1 files" in output
    with tenant_scope(tenant):
        assert IngestJob.objects.filter(source="import").count() == 1


def test_import_is_refused_again_once_the_agreements_expire(tenant, clinic_admin):
    accept_all(tenant, clinic_admin)
    expire_all(tenant)

    with pytest.raises(CommandError, match="has no Data Processing Agreement"):
        import_sample(tenant)
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "import")
