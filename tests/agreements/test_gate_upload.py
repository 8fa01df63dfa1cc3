"""The browser upload page and its endpoint, while the clinic's agreements are not in force."""

import io

from django.urls import reverse

from accounts.roles import Role
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.agreements.conftest import (
    accept_all,
    assert_nothing_stored,
    assert_refusal_recorded,
    expire_all,
    refusals,
    scratch_files,
)
from tests.factories import TenantFactory
from tests.ingest.samples import SAMPLES

MESSAGE = (
    "Ingestion refused: Alpha Imaging has no Data Processing Agreement and Terms of service in force. "
    "A clinic admin can accept it at /t/alpha/agreements/."
)


def send(client, tenant):
    upload = io.BytesIO((SAMPLES / "CT_small.dcm").read_bytes())
    upload.name = "CT_small.dcm"
    return client.post(reverse("upload-file", args=[tenant.slug]), {"file": upload, "path": "CT_small.dcm"})


def test_the_page_shows_the_reason_and_the_agreements_link_to_a_clinic_admin_instead_of_the_drop_zone(
    client, tenant, clinic_admin
):
    client.force_login(clinic_admin)

    page = client.get(reverse("upload", args=[tenant.slug])).content.decode()

    assert 'data-testid="upload-refused"' in page
    assert MESSAGE in page
    assert f'href="{reverse("agreements", args=[tenant.slug])}"' in page
    assert 'data-testid="dropzone"' not in page and "data-upload" not in page


def test_a_technologist_sees_the_reason_without_a_link_to_a_page_they_cannot_open(
    client, tenant, member_factory
):
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    page = client.get(reverse("upload", args=[tenant.slug])).content.decode()

    assert MESSAGE in page
    assert 'data-testid="agreements-link"' not in page
    assert 'data-testid="dropzone"' not in page


def test_a_post_is_refused_with_the_message_the_upload_script_shows_and_nothing_is_stored(
    client, tenant, member_factory
):
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    response = send(client, tenant)

    # static/js/upload.js shows body.error for any refusal.
    assert response.status_code == 403
    assert response.json() == {"error": MESSAGE}
    assert_nothing_stored(tenant)
    assert scratch_files() == []
    assert_refusal_recorded(tenant, "upload")


def test_upload_works_once_the_agreements_are_accepted(client, tenant, member_factory, clinic_admin):
    accept_all(tenant, clinic_admin)
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    page = client.get(reverse("upload", args=[tenant.slug])).content.decode()
    response = send(client, tenant)

    assert 'data-testid="dropzone"' in page and 'data-testid="upload-refused"' not in page
    assert response.status_code == 200
    with tenant_scope(tenant):
        assert IngestJob.objects.filter(source="upload").count() == 1
    assert refusals(tenant, "upload") == []


def test_upload_is_refused_again_once_the_agreements_expire(client, tenant, member_factory, clinic_admin):
    accept_all(tenant, clinic_admin)
    expire_all(tenant)
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    response = send(client, tenant)

    assert response.status_code == 403 and response.json()["error"] == MESSAGE
    assert_nothing_stored(tenant)
    assert_refusal_recorded(tenant, "upload")


def test_a_member_of_another_clinic_gets_404_and_no_refusal_is_recorded(client, tenant, member_factory):
    other = TenantFactory(slug="bravo", name="Bravo Radiology")
    client.force_login(member_factory(other, Role.TECHNOLOGIST))

    assert send(client, tenant).status_code == 404
    assert client.get(reverse("upload", args=[tenant.slug])).status_code == 404
    assert refusals(tenant, "upload") == []
