"""The grants of accounts.policy beyond roles: shares, per-study permissions (django-guardian),
break-the-glass, share links, and who may end a share."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from accounts import policy
from accounts.policy import Action, LinkVisitor
from accounts.roles import Role
from portal.tenancy import tenant_scope
from tests.factories import (
    BreakGlassGrantFactory,
    PatientFactory,
    ShareFactory,
    ShareLinkFactory,
    StudyFactory,
)

STUDY_ACTIONS = [Action.VIEW_STUDY, Action.DOWNLOAD_STUDY, Action.SHARE_STUDY]


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant)


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient)


@pytest.fixture
def other_study(tenant):
    return StudyFactory(tenant=tenant)


@pytest.fixture
def doctor(tenant, member_factory):
    return member_factory(tenant, Role.REFERRING_PHYSICIAN)


def visible(user, tenant) -> set:
    with tenant_scope(tenant):
        return set(policy.visible_studies(user, tenant))


def allowed(user, study) -> set[Action]:
    return {action for action in STUDY_ACTIONS if policy.can(user, action, study)}


def test_a_share_shows_one_study_to_the_doctor_and_no_other(tenant, study, other_study, doctor):
    ShareFactory(tenant=tenant, study=study, grantee=doctor)

    assert visible(doctor, tenant) == {study}
    assert allowed(doctor, study) == {Action.VIEW_STUDY}
    assert allowed(doctor, other_study) == set()


def test_a_share_that_allows_download_allows_it(tenant, study, doctor):
    ShareFactory(tenant=tenant, study=study, grantee=doctor, allow_download=True)

    assert allowed(doctor, study) == {Action.VIEW_STUDY, Action.DOWNLOAD_STUDY}


def test_a_share_of_a_patient_covers_their_studies_present_and_future(
    tenant, patient, study, other_study, doctor
):
    ShareFactory(tenant=tenant, study=None, patient=patient, grantee=doctor)
    later = StudyFactory(tenant=tenant, patient=patient)

    assert visible(doctor, tenant) == {study, later}
    assert policy.can(doctor, Action.VIEW_STUDY, later)
    assert not policy.can(doctor, Action.VIEW_STUDY, other_study)


@pytest.mark.parametrize(
    "ended",
    [
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"revoked_at": timezone.now()},
    ],
    ids=["expired", "revoked"],
)
def test_an_ended_share_grants_nothing(tenant, study, doctor, ended):
    ShareFactory(tenant=tenant, study=study, grantee=doctor, allow_download=True, **ended)

    assert visible(doctor, tenant) == set()
    assert allowed(doctor, study) == set()


def test_a_revocation_applies_to_the_same_user_object_at_once(tenant, study, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    assert policy.can(doctor, Action.VIEW_STUDY, study)

    with tenant_scope(tenant):
        share.revoked_at = timezone.now()
        share.save()

    assert not policy.can(doctor, Action.VIEW_STUDY, study)


def test_a_share_in_a_clinic_the_doctor_left_grants_nothing(tenant, study, doctor):
    ShareFactory(tenant=tenant, study=study, grantee=doctor)
    doctor.memberships.all().delete()
    doctor.__dict__.pop("_palisade_memberships", None)

    assert not policy.can(doctor, Action.VIEW_STUDY, study)
    assert visible(doctor, tenant) == set()


@pytest.mark.parametrize("codename,action", [(a.value, a) for a in STUDY_ACTIONS], ids=str)
def test_guardian_permissions_grant_their_action_on_their_study(
    tenant, study, other_study, doctor, codename, action
):
    assign_perm(f"imaging.{codename}", doctor, study)

    assert allowed(doctor, study) == {action}
    assert allowed(doctor, other_study) == set()
    assert visible(doctor, tenant) == ({study} if action == Action.VIEW_STUDY else set())

    remove_perm(f"imaging.{codename}", doctor, study)
    assert allowed(doctor, study) == set()


@pytest.mark.parametrize("role", [Role.BILLING, Role.AUDITOR, Role.PATIENT], ids=str)
def test_guardian_permissions_do_not_widen_roles_that_never_see_images(tenant, study, member_factory, role):
    user = member_factory(tenant, role)
    assign_perm("imaging.view_study", user, study)

    assert not policy.can(user, Action.VIEW_STUDY, study)


def test_billing_lists_studies_but_opens_and_downloads_none(tenant, study, member_factory):
    billing = member_factory(tenant, Role.BILLING)

    assert visible(billing, tenant) == {study}
    assert allowed(billing, study) == set()


@pytest.mark.parametrize(
    "role,may",
    [
        (Role.REFERRING_PHYSICIAN, True),
        (Role.RADIOLOGIST, False),  # sees it already: there is no glass to break
        (Role.BILLING, False),
        (Role.AUDITOR, False),
        (Role.PATIENT, False),
    ],
    ids=str,
)
def test_who_may_break_the_glass(tenant, study, member_factory, role, may):
    assert policy.can(member_factory(tenant, role), Action.BREAK_GLASS, study) is may


def test_break_the_glass_opens_the_study_until_it_expires(tenant, study, other_study, doctor):
    grant = BreakGlassGrantFactory(tenant=tenant, study=study, user=doctor)

    assert policy.can(doctor, Action.VIEW_STUDY, study)
    assert not policy.can(doctor, Action.DOWNLOAD_STUDY, study)
    assert not policy.can(doctor, Action.BREAK_GLASS, study)
    assert not policy.can(doctor, Action.VIEW_STUDY, other_study)

    with tenant_scope(tenant):
        grant.expires_at = timezone.now() - timedelta(seconds=1)
        grant.save()
    assert not policy.can(doctor, Action.VIEW_STUDY, study)


def test_a_link_visitor_sees_the_link_studies_only(tenant, other_tenant, study, other_study):
    link = ShareLinkFactory(tenant=tenant, studies=[study])
    visitor = LinkVisitor(link)

    assert not visitor.is_authenticated
    assert policy.can(visitor, Action.ENTER_TENANT, tenant)
    assert not policy.can(visitor, Action.ENTER_TENANT, other_tenant)
    assert visible(visitor, tenant) == {study}
    assert allowed(visitor, study) == {Action.VIEW_STUDY}
    assert allowed(visitor, other_study) == set()
    assert not policy.can(visitor, Action.STORE_INSTANCES, tenant)


def test_a_download_link_allows_downloads(tenant, study):
    visitor = LinkVisitor(ShareLinkFactory(tenant=tenant, studies=[study], allow_download=True))

    assert allowed(visitor, study) == {Action.VIEW_STUDY, Action.DOWNLOAD_STUDY}


@pytest.mark.parametrize("field", ["revoked_at", "locked_at", "expires_at"])
def test_an_ended_link_grants_nothing_from_the_next_decision_on(tenant, study, field):
    link = ShareLinkFactory(tenant=tenant, studies=[study])
    visitor = LinkVisitor(link)
    assert policy.can(visitor, Action.VIEW_STUDY, study)

    with tenant_scope(tenant):
        type(link).objects.filter(pk=link.pk).update(**{field: timezone.now()})

    assert not policy.can(visitor, Action.ENTER_TENANT, tenant)
    assert not policy.can(visitor, Action.VIEW_STUDY, study)
    assert visible(visitor, tenant) == set()


def test_an_anonymous_caller_has_no_rights(tenant, study):
    anonymous = AnonymousUser()

    assert not policy.can(anonymous, Action.ENTER_TENANT, tenant)
    assert allowed(anonymous, study) == set()
    assert visible(anonymous, tenant) == set()


def test_who_may_end_a_share(tenant, patient, study, doctor, member_factory):
    sharer = member_factory(tenant, Role.RADIOLOGIST)
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, granted_by=sharer)
    owner = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = owner
        patient.save()

    assert policy.can(sharer, Action.REVOKE_SHARE, share)
    assert policy.can(member_factory(tenant, Role.TENANT_ADMIN), Action.REVOKE_SHARE, share)
    assert policy.can(owner, Action.REVOKE_SHARE, share)
    assert not policy.can(member_factory(tenant, Role.RADIOLOGIST), Action.REVOKE_SHARE, share)
    assert not policy.can(member_factory(tenant, Role.PATIENT), Action.REVOKE_SHARE, share)
    assert not policy.can(doctor, Action.REVOKE_SHARE, share)


def test_a_patient_may_end_a_link_to_their_own_studies_only(
    tenant, patient, study, other_study, member_factory
):
    owner = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        patient.account = owner
        patient.save()

    assert policy.can(owner, Action.REVOKE_SHARE, ShareLinkFactory(tenant=tenant, studies=[study]))
    assert not policy.can(
        owner, Action.REVOKE_SHARE, ShareLinkFactory(tenant=tenant, studies=[study, other_study])
    )


@pytest.mark.parametrize(
    "role,may",
    [(Role.TENANT_ADMIN, True), (Role.AUDITOR, True), (Role.RADIOLOGIST, False), (Role.BILLING, False)],
    ids=str,
)
def test_who_reads_the_audit_trail(tenant, member_factory, role, may):
    assert policy.can(member_factory(tenant, role), Action.VIEW_AUDIT, tenant) is may


@pytest.mark.parametrize(
    "role",
    [Role.RADIOLOGIST, Role.BILLING, Role.AUDITOR, Role.REFERRING_PHYSICIAN, Role.PATIENT],
    ids=str,
)
def test_openable_ids_decide_a_list_as_can_decides_each_study(tenant, patient, member_factory, role):
    user = member_factory(tenant, role)
    patient.account = user if role == Role.PATIENT else None
    with tenant_scope(tenant):
        patient.save()
    studies = [StudyFactory(tenant=tenant, patient=patient), StudyFactory(tenant=tenant)]
    shared = StudyFactory(tenant=tenant)
    ShareFactory(tenant=tenant, study=shared, grantee=user)
    glass = StudyFactory(tenant=tenant)
    BreakGlassGrantFactory(tenant=tenant, study=glass, user=user)
    studies += [shared, glass]

    with tenant_scope(tenant):
        ids = policy.openable_ids(user, tenant, studies)

    assert ids == {study.pk for study in studies if policy.can(user, Action.VIEW_STUDY, study)}


def test_openable_ids_of_a_link_visitor_are_the_links_studies(tenant, study, other_study):
    visitor = LinkVisitor(ShareLinkFactory(tenant=tenant, studies=[study]))

    with tenant_scope(tenant):
        assert policy.openable_ids(visitor, tenant, [study, other_study]) == {study.pk}
