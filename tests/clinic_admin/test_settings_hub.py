"""The clinic's settings hub: the clinic at a glance, and a link to each administration page that exists."""

import pytest
from django.urls import NoReverseMatch, reverse

from accounts.roles import Role
from tests.clinic_admin.conftest import signed_in

pytestmark = pytest.mark.django_db

# Pages built alongside this one: linked once their URL exists, left out before.
PAGES_OF_OTHERS = ["clinic-members", "dicom-peers", "agreements", "onboarding-checklist"]
PAGES_OF_THE_CLINIC_ADMIN = [
    "clinic-security-policy",
    "clinic-sharing-policy",
    "clinic-consents",
    "retention",
    "alert-settings",
    "clinic-api-tokens",
    "clinic-shares",
    "research-projects",
    "audit-review",
]


def hub(tenant) -> str:
    return reverse("clinic-settings", kwargs={"tenant_slug": tenant.slug})


def test_the_hub_shows_the_clinic_and_its_regions_read_only(tenant, admin_client):
    tenant.replica_regions = ["eu-2"]
    tenant.save()

    response = admin_client.get(hub(tenant))

    page = response.content.decode()
    assert response.status_code == 200
    for testid, value in [
        ("clinic-name", tenant.name),
        ("clinic-slug", f"/t/{tenant.slug}/"),
        ("clinic-ae-title", tenant.ae_title),
        ("clinic-home-region", "eu-1 (EU)"),
        ("clinic-replicas", "eu-2"),
    ]:
        assert f'data-testid="{testid}">{value}<' in page
    assert "<form" not in page.split("<main>")[1].split("Policies in force")[0]


def test_the_hub_links_every_administration_page_that_exists(tenant, admin_client):
    page = admin_client.get(hub(tenant)).content.decode()

    for name in PAGES_OF_THE_CLINIC_ADMIN:
        assert f'href="{reverse(name, kwargs={"tenant_slug": tenant.slug})}"' in page, name
    for name in PAGES_OF_OTHERS:
        try:
            url = reverse(name, kwargs={"tenant_slug": tenant.slug})
        except NoReverseMatch:
            assert f'data-testid="hub-{name}"' not in page, name
        else:
            assert f'href="{url}"' in page, name


def test_the_hub_shows_the_policies_in_force(tenant, admin_client):
    admin_client.post(
        reverse("clinic-sharing-policy", kwargs={"tenant_slug": tenant.slug}),
        {"link_max_days": "3", "share_max_days": "90", "shares_may_allow_download": "on"},
    )

    page = admin_client.get(hub(tenant)).content.decode()

    assert 'data-testid="summary-link-days">3 days, without downloads<' in page
    assert 'data-testid="summary-mfa">Clinic admin, ' in page


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.RADIOLOGIST])
def test_other_roles_do_not_see_the_hub(tenant, member_factory, role):
    assert signed_in(member_factory(tenant, role)).get(hub(tenant)).status_code == 404
