"""The clinic admin's security policy page: bounded rules, audited changes, and rules that take effect."""

import pytest
from django.urls import reverse

from accounts.models import SecurityPolicy
from accounts.roles import Role
from accounts.security_policy import policy_for_tenant
from audit.models import AuditAction, AuditEvent
from portal.clinic_admin.services import PolicyRefused, change_security_policy
from tests.sessions import freeze_clock, is_signed_in, signed_in

pytestmark = pytest.mark.django_db


def page(tenant) -> str:
    return reverse("clinic-security-policy", kwargs={"tenant_slug": tenant.slug})


def form(**changes) -> dict:
    values = {
        "mfa_required_roles": [Role.TENANT_ADMIN.value, Role.RADIOLOGIST.value],
        "idle_timeout_minutes": "15",
        "absolute_lifetime_hours": "12",
        "password_history": "5",
        "password_max_age_days": "",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def test_the_clinic_admin_changes_the_policy_and_the_change_is_audited_without_phi(
    tenant, admin, admin_client
):
    policy_for_tenant(tenant)

    response = admin_client.post(page(tenant), form(idle_timeout_minutes="10", password_max_age_days="90"))

    assert response.status_code == 302
    policy = SecurityPolicy.objects.get(tenant=tenant)
    assert (policy.idle_timeout_minutes, policy.password_max_age_days) == (10, 90)
    assert policy.mfa_required_roles == ["radiologist", "tenant_admin"]
    event = AuditEvent.objects.get(action=AuditAction.POLICY_CHANGED)
    assert (event.actor, event.tenant, event.actor_role) == (admin, tenant, Role.TENANT_ADMIN.value)
    assert event.details["policy"] == "security"
    changed = event.details["changed"]
    assert changed["idle_timeout_minutes"] == [15, 10]
    assert changed["password_max_age_days"] == [None, 90]
    # The default asks every staff role for a second factor; the form kept two.
    assert set(changed) == {"idle_timeout_minutes", "password_max_age_days", "mfa_required_roles"}


def test_saving_without_a_change_records_nothing(tenant, admin_client):
    policy = policy_for_tenant(tenant)
    values = form(mfa_required_roles=policy.mfa_required_roles)

    assert admin_client.post(page(tenant), values).status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"idle_timeout_minutes": "2"}, "greater than or equal to 5"),
        ({"idle_timeout_minutes": "240"}, "less than or equal to 60"),
        ({"absolute_lifetime_hours": "0"}, "greater than or equal to 1"),
        ({"absolute_lifetime_hours": "72"}, "less than or equal to 24"),
        ({"password_history": "25"}, "less than or equal to 24"),
        ({"password_max_age_days": "7"}, "greater than or equal to 30"),
    ],
)
def test_rules_outside_the_bounds_are_refused_with_the_bounds(tenant, admin_client, changes, error):
    before = policy_for_tenant(tenant)

    response = admin_client.post(page(tenant), form(**changes))

    assert response.status_code == 200
    assert error in response.content.decode()
    after = SecurityPolicy.objects.get(tenant=tenant)
    assert (after.idle_timeout_minutes, after.absolute_lifetime_hours) == (
        before.idle_timeout_minutes,
        before.absolute_lifetime_hours,
    )
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_CHANGED).exists()


def test_nobody_switches_the_second_factor_off_for_clinic_admins(tenant, admin, admin_client):
    # The page: an empty list of roles still keeps clinic admins (their box is ticked and locked).
    admin_client.post(page(tenant), form(mfa_required_roles=[]))
    assert SecurityPolicy.objects.get(tenant=tenant).mfa_required_roles == ["tenant_admin"]
    assert 'type="checkbox" checked disabled' in admin_client.get(page(tenant)).content.decode()

    # The service, whoever calls it.
    with pytest.raises(PolicyRefused, match="Clinic admin must always use a second factor"):
        change_security_policy(
            tenant,
            {
                **form(mfa_required_roles=["radiologist"]),
                "idle_timeout_minutes": 15,
                "absolute_lifetime_hours": 12,
                "password_history": 5,
                "password_max_age_days": None,
            },
            request=None,
        )
    assert SecurityPolicy.objects.get(tenant=tenant).mfa_required_roles == ["tenant_admin"]


def test_a_shorter_idle_timeout_ends_a_radiologists_open_session(
    monkeypatch, tenant, admin_client, member_factory
):
    clock = freeze_clock(monkeypatch)
    # No second factor asked of radiologists, so that the radiologist's session is a plain one.
    admin_client.post(
        page(tenant), form(mfa_required_roles=[Role.TENANT_ADMIN.value], idle_timeout_minutes="30")
    )
    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST))
    clock.advance(minutes=10)
    assert is_signed_in(radiologist)  # 10 idle minutes of 30

    admin_client.post(
        page(tenant), form(mfa_required_roles=[Role.TENANT_ADMIN.value], idle_timeout_minutes="5")
    )
    clock.advance(minutes=5)

    assert not is_signed_in(radiologist)


def test_a_role_newly_required_to_use_mfa_is_held_at_enrolment(tenant, admin_client, member_factory):
    from django.test import Client

    from tests.sessions import PASSWORD

    admin_client.post(page(tenant), form(mfa_required_roles=[Role.TENANT_ADMIN.value]))
    technologist = member_factory(tenant, Role.TECHNOLOGIST)
    dashboard = reverse("clinic-dashboard", kwargs={"tenant_slug": tenant.slug})

    def sign_in() -> Client:
        client = Client()
        assert (
            client.post(reverse("login"), {"username": technologist.email, "password": PASSWORD}).status_code
            == 302
        )
        return client

    assert sign_in().get(dashboard).status_code == 200

    admin_client.post(
        page(tenant), form(mfa_required_roles=[Role.TENANT_ADMIN.value, Role.TECHNOLOGIST.value])
    )

    held = sign_in().get(dashboard)
    assert held.status_code == 302
    assert held["Location"].startswith(reverse("mfa:security"))
