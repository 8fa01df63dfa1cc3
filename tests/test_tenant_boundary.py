"""Anything of another clinic answers 404, exactly as a clinic that does not exist (DESIGN.md, Tenancy)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import Role
from tests.factories import StudyFactory

# Every route that carries a tenant, with the extra URL arguments to fill in.
# A new tenant route with no entry here fails test_every_tenant_route_is_listed.
TENANT_ROUTES = {
    "clinic-dashboard": lambda study: {},
    "study-detail": lambda study: {"study_uid": study.study_instance_uid},
    "api-studies": lambda study: {},
}


def _tenant_route_names(patterns=None, prefix="") -> set[str]:
    names = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            names |= _tenant_route_names(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and "<slug:tenant_slug>" in prefix + str(entry.pattern):
            names.add(entry.name)
    return names


def test_every_tenant_route_is_listed():
    assert _tenant_route_names() == set(TENANT_ROUTES)


@pytest.fixture
def intruder(tenant, other_tenant, member_factory, client):
    """An admin of clinic A, signed in, probing clinic B."""
    user = member_factory(tenant, Role.TENANT_ADMIN)
    client.force_login(user)
    return client


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES))
def test_a_member_of_clinic_a_gets_404_for_any_clinic_b_url(route, intruder, other_tenant):
    study = StudyFactory(tenant=other_tenant)
    url = reverse(route, kwargs={"tenant_slug": other_tenant.slug, **TENANT_ROUTES[route](study)})
    missing_url = reverse(route, kwargs={"tenant_slug": "no-such-clinic", **TENANT_ROUTES[route](study)})

    response = intruder.get(url)
    missing = intruder.get(missing_url)

    assert response.status_code == 404
    assert missing.status_code == 404
    assert response.content.replace(other_tenant.slug.encode(), b"") == missing.content.replace(
        b"no-such-clinic", b""
    )


@pytest.mark.parametrize("route", sorted(TENANT_ROUTES))
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_another_clinic_get_404_too(route, method, intruder, other_tenant):
    study = StudyFactory(tenant=other_tenant)
    url = reverse(route, kwargs={"tenant_slug": other_tenant.slug, **TENANT_ROUTES[route](study)})

    assert getattr(intruder, method)(url).status_code in {404, 405}


def test_a_study_uid_of_clinic_b_is_404_inside_clinic_a(intruder, tenant, other_tenant):
    study = StudyFactory(tenant=other_tenant)

    response = intruder.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))

    assert response.status_code == 404


def test_a_listing_in_clinic_a_never_shows_clinic_b_studies(intruder, tenant, other_tenant):
    StudyFactory(tenant=tenant, description="ALPHA STUDY")
    StudyFactory(tenant=other_tenant, description="BRAVO STUDY")

    page = intruder.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()
    api = intruder.get(reverse("api-studies", args=[tenant.slug])).json()

    assert "ALPHA STUDY" in page and "BRAVO STUDY" not in page
    assert [row["description"] for row in api["results"]] == ["ALPHA STUDY"]


def test_anonymous_visitors_are_sent_to_sign_in_whether_or_not_the_clinic_exists(client, tenant):
    existing = client.get(reverse("clinic-dashboard", args=[tenant.slug]))
    missing = client.get(reverse("clinic-dashboard", args=["no-such-clinic"]))

    assert existing.status_code == missing.status_code == 302
    assert existing["Location"].startswith(reverse("login"))
    assert missing["Location"].startswith(reverse("login"))


def test_an_inactive_clinic_is_404_for_its_own_members(tenant, member_factory, client):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    tenant.is_active = False
    tenant.save()

    assert client.get(reverse("clinic-dashboard", args=[tenant.slug])).status_code == 404
