"""Each clinic's security policy, and the strictest one for a member of several clinics."""

import pytest
from django.urls import reverse

from accounts.models import SecurityPolicy
from accounts.roles import Role
from accounts.security_policy import EffectivePolicy, effective_policy
from audit.models import AuditAction, AuditEvent
from portal.services import create_tenant
from tests.factories import UserFactory

STAFF_ROLES = [role.value for role in Role if role != Role.PATIENT]


def test_a_new_clinic_gets_the_default_policy(db):
    policy = SecurityPolicy.objects.get(tenant=create_tenant("harbour", "Harbour Clinic"))

    assert (
        policy.password_history,
        policy.password_max_age_days,
        policy.idle_timeout_minutes,
        policy.absolute_lifetime_hours,
    ) == (5, None, 15, 12)
    assert policy.mfa_required_roles == STAFF_ROLES


def test_a_user_in_no_clinic_gets_the_defaults(db):
    assert effective_policy(UserFactory()) == EffectivePolicy(
        password_history=5,
        password_max_age_days=None,
        idle_timeout_minutes=15,
        absolute_lifetime_hours=12,
        mfa_required=False,
    )
    assert effective_policy(UserFactory(is_superuser=True)).mfa_required


def test_a_member_of_two_clinics_gets_the_strictest_of_each_rule(tenant, other_tenant, member_factory):
    user = member_factory(tenant, Role.PATIENT)
    member_factory(other_tenant, Role.PATIENT, user=user)
    SecurityPolicy.objects.filter(tenant=tenant).update(
        password_history=8, password_max_age_days=None, idle_timeout_minutes=30, absolute_lifetime_hours=4
    )
    SecurityPolicy.objects.filter(tenant=other_tenant).update(
        password_history=3, password_max_age_days=60, idle_timeout_minutes=10, absolute_lifetime_hours=12
    )

    assert effective_policy(user) == EffectivePolicy(
        password_history=8,
        password_max_age_days=60,
        idle_timeout_minutes=10,
        absolute_lifetime_hours=4,
        mfa_required=False,
    )


@pytest.mark.parametrize(
    ("role", "patients_included", "required"),
    [(Role.RADIOLOGIST, False, True), (Role.PATIENT, False, False), (Role.PATIENT, True, True)],
)
def test_mfa_is_required_by_role_and_patients_are_optional(
    tenant, member_factory, role, patients_included, required
):
    if patients_included:
        SecurityPolicy.objects.filter(tenant=tenant).update(
            mfa_required_roles=[*STAFF_ROLES, Role.PATIENT.value]
        )

    assert effective_policy(member_factory(tenant, role)).mfa_required is required


def test_a_clinic_whose_policy_row_is_missing_is_held_to_the_defaults(tenant, member_factory):
    user = member_factory(tenant, Role.BILLING)
    SecurityPolicy.objects.filter(tenant=tenant).delete()

    assert effective_policy(user).password_history == 5
    assert not SecurityPolicy.objects.filter(tenant=tenant).exists()


def test_an_operator_edits_a_clinics_policy_in_the_admin_and_it_is_audited(client, tenant):
    operator = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(operator)
    policy = SecurityPolicy.objects.get(tenant=tenant)

    response = client.post(
        reverse("admin:accounts_securitypolicy_change", args=[policy.pk]),
        {
            "password_history": "10",
            "password_max_age_days": "180",
            "idle_timeout_minutes": "10",
            "absolute_lifetime_hours": "8",
            "mfa_required_roles": [*STAFF_ROLES, Role.PATIENT.value],
        },
    )

    assert response.status_code == 302, response.content.decode()
    policy.refresh_from_db()
    assert (policy.password_history, policy.password_max_age_days) == (10, 180)
    assert Role.PATIENT.value in policy.mfa_required_roles
    event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert (event.actor, event.tenant, event.object_type) == (operator, tenant, "accounts.securitypolicy")
    assert "password_max_age_days" in event.details["fields"]


def test_the_admin_refuses_a_history_beyond_24(client, tenant):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    policy = SecurityPolicy.objects.get(tenant=tenant)

    response = client.post(
        reverse("admin:accounts_securitypolicy_change", args=[policy.pk]),
        {"password_history": "25", "idle_timeout_minutes": "15", "absolute_lifetime_hours": "12"},
    )

    assert response.status_code == 200
    assert "less than or equal to 24" in response.content.decode()
