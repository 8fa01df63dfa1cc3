"""The set-up checklist, computed live, the go-live button and the dashboard's banner."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from imaging.dimse.models import RemoteAE
from portal.onboarding.models import SkippedStep
from portal.tenancy import tenant_scope
from tests.factories import StudyFactory, TenantFactory, accept_current_agreements

pytestmark = pytest.mark.django_db

CHECKLIST = reverse("onboarding-checklist", kwargs={"tenant_slug": "alpha"})
GO_LIVE = reverse("onboarding-go-live", kwargs={"tenant_slug": "alpha"})
SKIP = reverse("onboarding-skip", kwargs={"tenant_slug": "alpha"})
DASHBOARD = reverse("clinic-dashboard", kwargs={"tenant_slug": "alpha"})


@pytest.fixture
def tenant(db):
    """A new clinic: no agreement accepted yet."""
    return TenantFactory(slug="alpha", name="Alpha Imaging", agreements=False)


def steps(client) -> dict[str, bool]:
    response = client.get(CHECKLIST)
    assert response.status_code == 200
    return {step.key: step.done for step in response.context["checklist"].steps}


def test_each_step_follows_the_clinics_state(admin_client, tenant, member_factory):
    # force_login gave the admin an authenticator app; their password is set.
    assert steps(admin_client) == {
        "account": True,
        "agreements": False,
        "region": False,
        "peers": False,
        "members": False,
        "first_study": False,
    }
    accept_current_agreements(tenant)
    admin_client.post(reverse("onboarding-region", kwargs={"tenant_slug": "alpha"}), {"home_region": "eu-1"})
    with tenant_scope(tenant):
        RemoteAE.objects.create(tenant=tenant, ae_title="CT1")
    member_factory(tenant, Role.TECHNOLOGIST)
    StudyFactory(tenant=tenant)
    assert set(steps(admin_client).values()) == {True}


def test_an_admin_without_a_second_factor_leaves_the_account_step_open(admin_client, tenant, member_factory):
    member_factory(tenant, Role.TENANT_ADMIN)  # invited, never enrolled
    assert steps(admin_client)["account"] is False


def test_peers_and_members_may_be_skipped_explicitly(admin_client, tenant):
    admin_client.post(SKIP, {"step": "peers"})
    admin_client.post(SKIP, {"step": "members"})
    admin_client.post(SKIP, {"step": "agreements"})  # not skippable
    with tenant_scope(tenant):
        assert set(SkippedStep.objects.values_list("step", flat=True)) == {"peers", "members"}
    done = steps(admin_client)
    assert done["peers"] and done["members"] and not done["agreements"]
    assert (
        AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE, object_type="onboarding_step").count() == 2
    )


def test_go_live_is_refused_until_every_step_is_done_then_sets_live_at(admin_client, tenant, clinic_admin):
    page = admin_client.get(CHECKLIST).content.decode()
    assert 'data-testid="go-live" disabled' in page
    response = admin_client.post(GO_LIVE, follow=True)
    assert "Finish these steps first" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.live_at is None

    accept_current_agreements(tenant)
    admin_client.post(reverse("onboarding-region", kwargs={"tenant_slug": "alpha"}), {"home_region": "eu-1"})
    admin_client.post(SKIP, {"step": "peers"})
    admin_client.post(SKIP, {"step": "members"})
    StudyFactory(tenant=tenant)
    assert 'data-testid="go-live" disabled' not in admin_client.get(CHECKLIST).content.decode()

    response = admin_client.post(GO_LIVE)

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.live_at is not None
    event = AuditEvent.objects.get(action=AuditAction.CLINIC_WENT_LIVE)
    assert (event.tenant, event.actor) == (tenant, clinic_admin)
    assert "live-since" in admin_client.get(CHECKLIST).content.decode()


def test_the_dashboard_banner_shows_clinic_admins_the_steps_left_until_go_live(
    admin_client, tenant, member_factory
):
    page = admin_client.get(DASHBOARD).content.decode()
    assert "Finish setting up your clinic — 5 steps left" in page
    assert CHECKLIST in page

    tech_client = Client()
    tech_client.force_login(member_factory(tenant, Role.TECHNOLOGIST))
    assert "onboarding-banner" not in tech_client.get(DASHBOARD).content.decode()

    accept_current_agreements(tenant)  # and the technologist made the members step done
    assert "3 steps left" in admin_client.get(DASHBOARD).content.decode()
    tenant.live_at = tenant.created_at
    tenant.save(update_fields=["live_at"])
    assert "onboarding-banner" not in admin_client.get(DASHBOARD).content.decode()
