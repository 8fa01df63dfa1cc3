"""`accept_agreements`: an operator records a clinic's signed paper copy."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditAction, AuditEvent
from portal.agreements import services
from portal.agreements.models import AgreementAcceptance, AgreementText
from portal.tenancy import tenant_scope
from tests.factories import TenantFactory, UserFactory


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("accept_agreements", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def signer(db):
    return UserFactory(email="director@alpha.example")


def test_every_required_kind_is_accepted_by_default_and_ingestion_may_start(tenant, signer):
    output = run(
        tenant.slug, "--signer", "Director@Alpha.example", "--name", "Dana Admin", "--role", "Director"
    )

    assert services.missing_agreements(tenant) == []
    with tenant_scope(tenant):
        rows = list(AgreementAcceptance.objects.filter(tenant=tenant).select_related("text"))
        events = AuditEvent.objects.filter(tenant=tenant, action=AuditAction.AGREEMENT_ACCEPTED).count()
    assert sorted(row.text.kind for row in rows) == ["dpa", "terms"]
    assert {(row.signer, row.signer_name, row.signer_role) for row in rows} == {
        (signer, "Dana Admin", "Director")
    }
    assert events == 2
    assert output.count("accepted, in force until") == 2
    services.assert_may_ingest(tenant)


def test_one_kind_can_be_named(tenant, signer):
    run(tenant.slug, "--signer", signer.email, "--name", "Dana", "--role", "Director", "--kind", "terms")

    assert services.missing_agreements(tenant) == ["dpa"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["nowhere", "--signer", "director@alpha.example"], "No tenant with slug 'nowhere'."),
        (["alpha", "--signer", "nobody@alpha.example"], "No user with e-mail 'nobody@alpha.example'."),
    ],
)
def test_failures_are_one_line(tenant, signer, args, reason):
    with pytest.raises(CommandError) as failure:
        run(*args, "--name", "Dana", "--role", "Director")

    assert str(failure.value) == reason
    with tenant_scope(tenant):
        assert not AgreementAcceptance.objects.exists()


def test_a_blank_name_is_refused(tenant, signer):
    with pytest.raises(CommandError, match="must not be blank"):
        run(tenant.slug, "--signer", signer.email, "--name", "  ", "--role", "Director")


def test_nothing_is_accepted_when_a_kind_has_no_published_text(signer):
    clinic = TenantFactory(slug="us-clinic", home_region="us-1", agreements=False)
    AgreementText.objects.filter(kind="baa").delete()

    with pytest.raises(CommandError) as failure:
        run(clinic.slug, "--signer", signer.email, "--name", "Dana", "--role", "Director")

    assert str(failure.value) == "No Business Associate Agreement has been published yet."
    with tenant_scope(clinic):
        assert not AgreementAcceptance.objects.exists()
