"""A research export into another clinic goes through that clinic's ingestion: refused while the
receiving clinic has no agreements in force (de-identified is not anonymous data)."""

import pytest

from accounts.roles import Role
from imaging.models import IngestJob
from imaging.research import exports
from imaging.research.models import ResearchExport, ResearchProject
from imaging.research.selectors import StudyQuery
from portal.tenancy import tenant_scope
from tests.agreements.conftest import accept_all, assert_nothing_stored, assert_refusal_recorded
from tests.factories import MembershipFactory, TenantFactory
from tests.research.conftest import admin, consenting, make_project, research_text  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(db):
    """The sending clinic, with its agreements."""
    return TenantFactory(slug="alpha", name="Alpha Imaging")


@pytest.fixture
def receiving(db):
    return TenantFactory(slug="bravo", name="Bravo Radiology", agreements=False)


def export_to(project, actor) -> ResearchExport:
    with tenant_scope(project.tenant):
        export = exports.start_export(project=project, query=StudyQuery(), actor=actor)
        exports.run_export(str(export.pk))
        export.refresh_from_db()
    return export


def test_an_export_to_a_clinic_without_agreements_fails_with_the_reason(tenant, receiving, admin, consenting):  # noqa: F811
    MembershipFactory(user=admin, tenant=receiving, role=Role.TENANT_ADMIN)
    consenting("CT_small.dcm")
    project = make_project(
        tenant, admin, destination=ResearchProject.Destination.TENANT, destination_tenant=receiving
    )

    export = export_to(project, admin)

    assert export.state == ResearchExport.State.FAILED
    assert export.error.startswith("Ingestion refused: Bravo Radiology has no Data Processing Agreement")
    assert_nothing_stored(receiving)
    assert_refusal_recorded(receiving, "research_export")

    accept_all(receiving, admin)
    again = export_to(project, admin)

    assert again.state == ResearchExport.State.DONE, again.error
    with tenant_scope(receiving):
        assert IngestJob.objects.filter(state="queued").count() == 1
