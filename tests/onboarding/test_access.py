"""Every tenant page of onboarding is the clinic admins' only: 404 for other roles and other clinics."""

import pytest
from django.urls import reverse

from accounts.models import Membership
from accounts.roles import Role
from imaging.dimse.models import RemoteAE
from portal.onboarding import invitations
from portal.onboarding.models import Invitation
from portal.tenancy import tenant_scope

pytestmark = pytest.mark.django_db

TECH_EMAIL = "tech@alpha.example"
NOT_ADMINS = [role for role in Role if role != Role.TENANT_ADMIN]


@pytest.fixture
def routes(tenant, member_factory):
    """Each (method, url, data) of onboarding under /t/alpha/, with objects of the clinic to act on."""
    tech = member_factory(tenant, Role.TECHNOLOGIST, user__email=TECH_EMAIL)
    membership = Membership.objects.get(user=tech, tenant=tenant)
    invitation, _ = invitations.create_invitation(
        tenant, "new@alpha.example", Role.BILLING, invited_by=None, request=None
    )
    with tenant_scope(tenant):
        peer = RemoteAE.objects.create(tenant=tenant, ae_title="CT1")
    slug = {"tenant_slug": "alpha"}
    return [
        ("get", reverse("onboarding-checklist", kwargs=slug), {}),
        ("post", reverse("onboarding-skip", kwargs=slug), {"step": "peers"}),
        ("post", reverse("onboarding-go-live", kwargs=slug), {}),
        ("get", reverse("onboarding-region", kwargs=slug), {}),
        ("post", reverse("onboarding-region", kwargs=slug), {"home_region": "eu-2"}),
        ("get", reverse("clinic-members", kwargs=slug), {}),
        ("post", reverse("clinic-members", kwargs=slug), {"email": "x@example.org", "role": "billing"}),
        (
            "post",
            reverse("member-role", kwargs={**slug, "membership_id": membership.pk}),
            {"role": "billing"},
        ),
        ("post", reverse("member-remove", kwargs={**slug, "membership_id": membership.pk}), {}),
        ("post", reverse("invitation-resend", kwargs={**slug, "invitation_id": invitation.pk}), {}),
        ("post", reverse("invitation-revoke", kwargs={**slug, "invitation_id": invitation.pk}), {}),
        ("get", reverse("dicom-peers", kwargs=slug), {}),
        ("post", reverse("dicom-peers", kwargs=slug), {"ae_title": "MR1"}),
        ("post", reverse("dicom-peer-remove", kwargs={**slug, "peer_id": peer.pk}), {}),
    ]


def assert_nothing_changed(tenant) -> None:
    tenant.refresh_from_db()
    assert (tenant.home_region, tenant.live_at) == ("eu-1", None)
    assert Membership.objects.get(tenant=tenant, user__email=TECH_EMAIL).role == Role.TECHNOLOGIST
    with tenant_scope(tenant):
        assert list(RemoteAE.objects.values_list("ae_title", flat=True)) == ["CT1"]
        assert Invitation.objects.get().revoked_at is None
        assert Invitation.objects.count() == 1


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_every_route_is_404_for_members_who_are_not_clinic_admins(
    client, tenant, member_factory, routes, role
):
    client.force_login(member_factory(tenant, role))
    for method, url, data in routes:
        assert getattr(client, method)(url, data).status_code == 404, (role, method, url)
    assert_nothing_changed(tenant)


def test_every_route_is_404_for_another_clinics_admin(client, tenant, other_tenant, member_factory, routes):
    client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))
    for method, url, data in routes:
        assert getattr(client, method)(url, data).status_code == 404, (method, url)
    assert_nothing_changed(tenant)


def test_every_route_sends_an_anonymous_visitor_to_sign_in(client, tenant, routes):
    for method, url, data in routes:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    assert_nothing_changed(tenant)


def test_the_clinic_admin_reaches_every_page(admin_client, routes):
    for method, url, _ in routes:
        if method == "get":
            assert admin_client.get(url).status_code == 200, url
