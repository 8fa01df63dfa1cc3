"""C-STORE from dcmtk's storescu is refused, Not Authorized with the reason, while the clinic's
agreements are not in force."""

import pytest

from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.agreements.conftest import (
    accept_all,
    assert_nothing_stored,
    assert_refusal_recorded,
    expire_all,
    refusals,
)
from tests.dimse.conftest import LOOPBACK, run
from tests.ingest.samples import SAMPLES

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
REASON = "Agreement missing: DPA, terms; a clinic admin must accept"


def storescu(scp, calling: str = "MODALITY1", called: str = "ALPHA"):
    # -d prints the C-STORE response in full, Error Comment (0000,0902) included.
    return run(
        "storescu", "-d", "-aet", calling, "-aec", called, LOOPBACK, str(scp.port), SAMPLES / "CT_small.dcm"
    )


def test_c_store_is_refused_not_authorized_with_the_reason_while_agreements_are_missing(
    scp, tenant, modality
):
    result = storescu(scp)

    assert "DIMSE Status                  : 0x0124: Refused: Not authorized" in result.stdout, result.stdout
    assert f"(0000,0902) LO [{REASON}]" in result.stdout  # Error Comment
    assert len(REASON) <= 64  # LO
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "dimse")
    (event,) = refusals(tenant, "dimse")
    assert event.details["calling_ae"] == "MODALITY1"


def test_c_store_is_accepted_once_the_agreements_are_accepted(scp, tenant, modality, clinic_admin):
    accept_all(tenant, clinic_admin)

    result = storescu(scp)

    assert result.returncode == 0, result.stdout
    assert "0x0124" not in result.stdout
    with tenant_scope(tenant):
        assert IngestJob.objects.filter(source="dimse", state="queued").count() == 1


def test_c_store_is_refused_again_once_the_agreements_expire(scp, tenant, modality, clinic_admin):
    accept_all(tenant, clinic_admin)
    expire_all(tenant)

    result = storescu(scp)

    assert "0x0124: Refused: Not authorized" in result.stdout
    assert f"(0000,0902) LO [{REASON}]" in result.stdout
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "dimse")
