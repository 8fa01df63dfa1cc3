"""Every route of the clinic's administration pages, walked by everyone who must not use them: another
clinic's admin, the clinic's radiologists, technologists and patients get 404 (as for a page that does
not exist), anonymous callers go to sign-in; and none of them changes anything."""

import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.retention.holds import place_hold
from imaging.retention.models import ErasureRequest, LegalHold, RetentionRule
from portal.tenancy import tenant_scope
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db

# (URL name, the row its URL names, methods): each route of portal/clinic_admin/urls.py and
# imaging/retention/urls.py.
ROUTES = [
    ("clinic-settings", None, ["get"]),
    ("clinic-security-policy", None, ["get", "post"]),
    ("clinic-sharing-policy", None, ["get", "post"]),
    ("retention", None, ["get"]),
    ("retention-rule-new", None, ["post"]),
    ("retention-rule-edit", "rule", ["get", "post"]),
    ("retention-rule-remove", "rule", ["post"]),
    ("retention-hold-place", None, ["post"]),
    ("retention-hold-release", "hold", ["post"]),
    ("retention-erasure-request", None, ["post"]),
    ("retention-erasure-approve", "erasure", ["post"]),
    ("retention-erasure-refuse", "erasure", ["post"]),
    ("retention-certificates", None, ["get"]),
    ("retention-certificate", "certificate", ["get"]),
]
CALLERS = [
    "other clinic's admin",
    Role.RADIOLOGIST,
    Role.TECHNOLOGIST,
    Role.PATIENT,
    Role.AUDITOR,
    "anonymous",
]


def test_the_walk_covers_every_route_of_these_pages():
    from imaging.retention import urls as retention_urls
    from portal.clinic_admin import urls as clinic_admin_urls

    names = {pattern.name for pattern in clinic_admin_urls.urlpatterns + retention_urls.urlpatterns}
    assert names == {name for name, _, _ in ROUTES}


@pytest.fixture
def rows(tenant, member_factory):
    """One row of each kind the routes name, in the clinic, so that a refusal is not for want of a row."""
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    study = StudyFactory(tenant=tenant)
    with tenant_scope(tenant):
        rule = RetentionRule.objects.create(tenant=tenant, years_after_study=10)
        hold = place_hold(tenant, placed_by=admin, reason="Case 1", study=study)
        erasure = ErasureRequest.objects.create(
            tenant=tenant,
            study=study,
            study_instance_uid=study.study_instance_uid,
            reason="ticket",
            requested_by=admin,
        )
    return {
        "rule": rule.pk,
        "hold": hold.pk,
        "erasure": erasure.pk,
        "certificate": uuid.uuid4(),
        "study": study,
    }


def route_url(tenant, name: str, row: str | None, rows: dict) -> str:
    kwargs = {"tenant_slug": tenant.slug}
    if row == "certificate":
        kwargs["certificate_id"] = rows["certificate"]
    elif row is not None:
        kwargs["pk"] = rows[row]
    return reverse(name, kwargs=kwargs)


def snapshot(tenant) -> tuple:
    with tenant_scope(tenant):
        return (
            list(RetentionRule.objects.values_list("pk", "years_after_study", "is_active")),
            list(LegalHold.objects.values_list("pk", "released_at")),
            list(ErasureRequest.objects.values_list("pk", "state")),
        )


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize(("name", "row", "methods"), ROUTES, ids=[name for name, _, _ in ROUTES])
def test_nobody_but_the_clinic_admin_reaches_a_route(
    caller, name, row, methods, tenant, other_tenant, member_factory, rows
):
    client = Client()
    if caller == "other clinic's admin":
        client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))
    elif caller != "anonymous":
        client.force_login(member_factory(tenant, caller))
    url = route_url(tenant, name, row, rows)
    before = snapshot(tenant)
    # Every field any of these forms takes, so that a refusal is not for want of input.
    data = {
        "reason": "x",
        "study_uid": rows["study"].study_instance_uid,
        "target": "study",
        "years_after_study": "1",
        "age_of_majority": "18",
        "minor_until_age": "25",
        "link_max_days": "1",
        "share_max_days": "1",
        "idle_timeout_minutes": "5",
        "absolute_lifetime_hours": "1",
        "password_history": "0",
        "mfa_required_roles": ["tenant_admin"],
    }

    for method in methods:
        denials = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).count()
        response = client.post(url, data) if method == "post" else client.get(url)
        if caller == "anonymous":
            assert response.status_code == 302, (method, url)
            assert response["Location"].startswith(reverse(settings.LOGIN_URL))
        else:
            assert response.status_code == 404, (method, url)
            assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).count() == denials + 1

    assert snapshot(tenant) == before
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).exists()


@pytest.mark.parametrize(("name", "row", "methods"), ROUTES, ids=[name for name, _, _ in ROUTES])
def test_the_clinic_admin_reaches_every_route(name, row, methods, tenant, member_factory, rows):
    client = Client()
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))
    url = route_url(tenant, name, row, rows)
    method = "get" if "get" in methods else "post"

    response = getattr(client, method)(url)

    # A made-up certificate ID is a row that does not exist: 404 like any other.
    expected = {404} if row == "certificate" else {200, 302, 400}
    assert response.status_code in expected, (method, url, response.status_code)
