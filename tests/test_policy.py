"""The role matrix of accounts.policy, the one access decision."""

import pytest

from accounts import policy
from accounts.roles import Role
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, StudyFactory, UserFactory

CLINIC_WIDE = [Role.TENANT_ADMIN, Role.RADIOLOGIST, Role.TECHNOLOGIST]


@pytest.fixture
def studies(tenant):
    return [StudyFactory(tenant=tenant), StudyFactory(tenant=tenant)]


@pytest.mark.parametrize("role", [*CLINIC_WIDE, Role.BILLING], ids=str)
def test_clinic_staff_and_billing_list_every_study_of_the_clinic(tenant, studies, member_factory, role):
    user = member_factory(tenant, role)

    with tenant_scope(tenant):
        assert set(policy.visible_studies(user, tenant)) == set(studies)


@pytest.mark.parametrize("role", CLINIC_WIDE, ids=str)
def test_clinic_staff_may_open_a_study(tenant, studies, member_factory, role):
    assert policy.can(member_factory(tenant, role), policy.Action.VIEW_STUDY, studies[0])


@pytest.mark.parametrize(
    "role", [Role.BILLING, Role.AUDITOR, Role.REFERRING_PHYSICIAN, Role.PATIENT], ids=str
)
def test_other_roles_may_not_open_a_study_that_is_not_theirs(tenant, studies, member_factory, role):
    assert not policy.can(member_factory(tenant, role), policy.Action.VIEW_STUDY, studies[0])


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.REFERRING_PHYSICIAN], ids=str)
def test_auditors_and_referring_doctors_see_no_study_without_a_grant(tenant, studies, member_factory, role):
    user = member_factory(tenant, role)

    with tenant_scope(tenant):
        assert not policy.visible_studies(user, tenant).exists()


def test_a_patient_sees_only_their_own_studies(tenant, studies, member_factory):
    user = member_factory(tenant, Role.PATIENT)
    own = StudyFactory(tenant=tenant, patient=PatientFactory(tenant=tenant, account=user))

    with tenant_scope(tenant):
        assert list(policy.visible_studies(user, tenant)) == [own]
    assert policy.can(user, policy.Action.VIEW_STUDY, own)


def test_a_user_of_another_clinic_gets_nothing(tenant, other_tenant, studies, member_factory):
    user = member_factory(other_tenant, Role.TENANT_ADMIN)

    assert not policy.can(user, policy.Action.ENTER_TENANT, tenant)
    assert not policy.can(user, policy.Action.VIEW_STUDY, studies[0])
    with tenant_scope(tenant):
        assert not policy.visible_studies(user, tenant).exists()


def test_a_deactivated_user_loses_every_right(tenant, studies, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    user.is_active = False

    assert not policy.can(user, policy.Action.ENTER_TENANT, tenant)
    assert not policy.can(user, policy.Action.VIEW_STUDY, studies[0])


def test_a_platform_operator_is_not_a_clinic_member_by_default(tenant, studies):
    operator = UserFactory(is_superuser=True, is_staff=True)

    assert not policy.can(operator, policy.Action.ENTER_TENANT, tenant)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.TENANT_ADMIN, True),
        (Role.TECHNOLOGIST, True),
        (Role.RADIOLOGIST, True),
        (Role.REFERRING_PHYSICIAN, False),
        (Role.BILLING, False),
        (Role.AUDITOR, False),
        (Role.PATIENT, False),
    ],
    ids=str,
)
def test_who_may_store_instances_and_follow_ingestion(tenant, other_tenant, member_factory, role, allowed):
    user = member_factory(tenant, role)

    assert policy.can(user, policy.Action.STORE_INSTANCES, tenant) is allowed
    assert policy.can(user, policy.Action.VIEW_INGEST_JOBS, tenant) is allowed
    assert not policy.can(user, policy.Action.STORE_INSTANCES, other_tenant)
