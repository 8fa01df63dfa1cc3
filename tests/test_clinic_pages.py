"""The clinic dashboard and study page: what a member sees, and the audit trail they leave."""

from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.models import WorkerHeartbeat
from tests.factories import SeriesFactory, StudyFactory


def test_the_dashboard_lists_visible_studies_and_audits_the_listing(client, tenant, member_factory):
    study = StudyFactory(tenant=tenant, description="MR KNEE")
    user = member_factory(tenant, Role.RADIOLOGIST)
    client.force_login(user)

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert "MR KNEE" in page
    event = AuditEvent.objects.get(action=AuditAction.VIEW_STUDY_LIST)
    assert (event.actor, event.tenant, event.actor_role) == (user, tenant, Role.RADIOLOGIST)
    assert event.object_ids == [study.study_instance_uid]


def test_an_empty_clinic_says_so(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert "No studies to show yet." in page
    assert 'data-testid="worker-status">not seen yet<' in page


def test_the_dashboard_shows_a_live_worker(client, tenant, member_factory):
    from django.utils import timezone

    WorkerHeartbeat.objects.create(hostname="worker-1", seen_at=timezone.now())
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert 'data-testid="worker-status">running<' in page


def test_billing_sees_the_list_without_links_to_the_images(client, tenant, member_factory):
    study = StudyFactory(tenant=tenant)
    client.force_login(member_factory(tenant, Role.BILLING))

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()
    detail = client.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))

    assert reverse("study-detail", args=[tenant.slug, study.study_instance_uid]) not in page
    assert detail.status_code == 404


def test_opening_a_study_shows_its_series_and_is_audited(client, tenant, member_factory):
    series = SeriesFactory(tenant=tenant, description="AX T2", number_of_instances=24)
    user = member_factory(tenant, Role.RADIOLOGIST)
    client.force_login(user)

    page = client.get(reverse("study-detail", args=[tenant.slug, series.study.study_instance_uid]))

    assert page.status_code == 200
    assert "AX T2" in page.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.VIEW_STUDY)
    assert event.object_ids == [series.study.study_instance_uid]


def test_text_from_dicom_is_escaped_on_pages(client, tenant, member_factory):
    StudyFactory(tenant=tenant, description="<script>alert(1)</script>")
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    page = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_api_lists_studies_and_audits_the_query(client, tenant, member_factory):
    study = StudyFactory(tenant=tenant)
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))

    body = client.get(reverse("api-studies", args=[tenant.slug])).json()

    assert [row["study_instance_uid"] for row in body["results"]] == [study.study_instance_uid]
    assert AuditEvent.objects.get(action=AuditAction.QUERY).object_ids == [study.study_instance_uid]


def test_the_api_describes_the_user(client, tenant, member_factory):
    user = member_factory(tenant, Role.PATIENT)
    client.force_login(user)

    body = client.get(reverse("api-me")).json()

    assert body == {
        "email": user.email,
        "is_platform_operator": False,
        "memberships": [{"tenant": "alpha", "tenant_name": "Alpha Imaging", "role": "patient"}],
    }


def test_the_api_asks_anonymous_callers_to_authenticate(client, tenant):
    for url in (reverse("api-studies", args=[tenant.slug]), reverse("api-me")):
        response = client.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_openapi_schema_names_the_api(client):
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").json()

    assert "/api/v1/tenants/{tenant_slug}/studies/" in schema["paths"]
