"""A project's rules and its sealed pseudonym key; an export that meets a fault of ours."""

import pytest

from imaging.crypto.keys import rotate_tenant_key
from imaging.crypto.providers import KeyManagementError
from imaging.research import exports, services
from imaging.research.models import ResearchExport, ResearchProject
from imaging.research.selectors import StudyQuery
from imaging.research.tasks import run_research_export
from portal.tenancy import tenant_scope
from tests.research.conftest import make_project

pytestmark = pytest.mark.django_db


def test_two_projects_of_a_clinic_cannot_share_a_name(tenant, admin):
    make_project(tenant, admin, "Lung nodules")

    with pytest.raises(services.ProjectRefused, match="has this name"):
        make_project(tenant, admin, "Lung nodules")


def test_the_pseudonym_key_survives_a_key_rotation_and_opens_for_its_own_project_only(tenant, admin):
    first = make_project(tenant, admin, "First")
    second = make_project(tenant, admin, "Second")
    with tenant_scope(tenant):
        before = services.project_keys(first).uid("1.2.3")
        rotate_tenant_key(tenant)
        assert services.project_keys(first).uid("1.2.3") == before
        assert services.project_keys(second).uid("1.2.3") != before
        second.secret_sealed = first.secret_sealed  # copied onto another row
        with pytest.raises(KeyManagementError):
            services.project_keys(second)
        assert bytes(ResearchProject.objects.get(pk=first.pk).secret_sealed) != b""


def test_an_unexpected_fault_fails_the_export_rather_than_leave_it_running(
    tenant, admin, consenting, monkeypatch
):
    consenting("CT_small.dcm")
    project = make_project(tenant, admin)
    with tenant_scope(tenant):
        export = exports.start_export(project=project, query=StudyQuery(), actor=admin)

    def fault(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(exports, "export_studies", fault)
    run_research_export.apply(args=[str(export.pk), tenant.pk])

    with tenant_scope(tenant):
        export.refresh_from_db()
    assert export.state == ResearchExport.State.FAILED and "unexpected error" in export.error
