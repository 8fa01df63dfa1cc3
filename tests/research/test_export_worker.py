"""A real Celery worker runs a research export that the project page started."""

import time

import pytest
from django.test import Client
from django.urls import reverse

from imaging.research.models import ResearchExport
from portal.tenancy import tenant_scope
from tests.research.conftest import make_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def wait_for_end(tenant, worker, timeout: float = 120.0) -> ResearchExport:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with tenant_scope(tenant):
            export = ResearchExport.objects.get()
        if export.state in (ResearchExport.State.DONE, ResearchExport.State.FAILED):
            return export
        time.sleep(0.2)
    raise AssertionError(f"export still {export.state} after {timeout}s:\n{worker.log()}")


def test_a_worker_runs_the_export_the_page_started(worker_factory, tenant, admin, consenting):
    consenting("CT_small.dcm")
    consenting("MR_small.dcm")
    project = make_project(tenant, admin)
    worker = worker_factory("research")
    client = Client()
    client.force_login(admin)

    client.post(reverse("research-export-new", args=[tenant.slug, project.pk]), {"action": "start"})
    export = wait_for_end(tenant, worker)

    assert export.state == ResearchExport.State.DONE, export.error
    assert export.report["instances"] == 2 and export.progress_done == export.progress_total == 2
    status = client.get(reverse("research-export-status", args=[tenant.slug, export.pk])).json()
    assert status["file_url"] and client.get(status["file_url"]).status_code == 200
