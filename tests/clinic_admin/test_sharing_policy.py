"""The clinic's sharing policy: its page, and its limits holding on share links and shares with doctors."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.clinic_admin.models import SharingPolicy
from portal.sharing.models import Share, ShareLink
from portal.tenancy import tenant_scope
from tests.clinic_admin.conftest import signed_in
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db


def page(tenant) -> str:
    return reverse("clinic-sharing-policy", kwargs={"tenant_slug": tenant.slug})


def policy_form(**changes) -> dict:
    values = {
        "link_max_days": "30",
        "links_may_allow_download": "on",
        "share_max_days": "365",
        "shares_may_allow_download": "on",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def new_link(client, study, **data):
    form = {"label": "Second opinion", "expires_in": "7d", "protection": "pin", "pin": "482913"} | data
    return client.post(
        reverse(
            "share-link-new", kwargs={"tenant_slug": study.tenant.slug, "study_uid": study.study_instance_uid}
        ),
        form,
    )


def share(client, study, doctor, days: int, **data):
    form = {
        "recipient": "member",
        "email": doctor.email,
        "scope": "study",
        "last_day": (timezone.localdate() + timedelta(days=days)).isoformat(),
        "note": "",
    } | data
    return client.post(reverse("study-share", args=[study.tenant.slug, study.study_instance_uid]), form)


def links_of(tenant) -> list[ShareLink]:
    with tenant_scope(tenant):
        return list(ShareLink.objects.all())


def shares_of(tenant) -> list[Share]:
    with tenant_scope(tenant):
        return list(Share.objects.all())


def test_the_clinic_admin_sets_the_limits_and_the_change_is_audited(tenant, admin, admin_client):
    response = admin_client.post(page(tenant), policy_form(link_max_days="7", links_may_allow_download=None))

    assert response.status_code == 302
    with tenant_scope(tenant):
        policy = SharingPolicy.objects.get(tenant=tenant)
    assert (policy.link_max_days, policy.links_may_allow_download, policy.share_max_days) == (7, False, 365)
    event = AuditEvent.objects.get(action=AuditAction.POLICY_CHANGED)
    assert event.actor == admin
    assert event.details == {
        "policy": "sharing",
        "changed": {"link_max_days": [30, 7], "links_may_allow_download": [True, False]},
    }


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"link_max_days": "31"}, "less than or equal to 30"),
        ({"link_max_days": "0"}, "greater than or equal to 1"),
        ({"share_max_days": "400"}, "less than or equal to 365"),
    ],
)
def test_limits_beyond_the_platforms_are_refused(tenant, admin_client, changes, error):
    response = admin_client.post(page(tenant), policy_form(**changes))

    assert response.status_code == 200
    assert error in response.content.decode()
    with tenant_scope(tenant):
        assert not SharingPolicy.objects.exists()


def test_without_a_policy_the_platform_limits_hold(tenant, member_factory):
    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST))
    study = StudyFactory(tenant=tenant)

    assert new_link(radiologist, study, expires_in="30d", allow_download="on").status_code == 200
    assert [link.allow_download for link in links_of(tenant)] == [True]


def test_a_link_longer_than_the_clinic_allows_is_refused_with_a_clear_message(
    tenant, admin_client, member_factory
):
    admin_client.post(page(tenant), policy_form(link_max_days="3"))
    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST))
    study = StudyFactory(tenant=tenant)

    refused = new_link(radiologist, study, expires_in="7d")
    allowed = new_link(radiologist, study, expires_in="3d")

    assert "This clinic allows share links of at most 3 days" in refused.content.decode()
    assert allowed.status_code == 200
    (link,) = links_of(tenant)
    assert link.expires_at - link.created_at == timedelta(days=3)


def test_a_link_allowing_downloads_is_refused_when_the_clinic_forbids_it(
    tenant, admin_client, member_factory
):
    admin_client.post(page(tenant), policy_form(links_may_allow_download=None))
    radiologist = signed_in(member_factory(tenant, Role.RADIOLOGIST))
    study = StudyFactory(tenant=tenant)

    refused = new_link(radiologist, study, allow_download="on")

    assert "does not allow share links that let the visitor download" in refused.content.decode()
    assert links_of(tenant) == []
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_LINK_CREATED).exists()


def test_a_share_with_a_doctor_longer_than_the_clinic_allows_is_refused(tenant, admin_client, member_factory):
    admin_client.post(page(tenant), policy_form(share_max_days="30", shares_may_allow_download=None))
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    study = StudyFactory(tenant=tenant)

    too_long = share(admin_client, study, doctor, days=60)
    with_download = share(admin_client, study, doctor, days=10, allow_download="on")
    allowed = share(admin_client, study, doctor, days=30)

    assert "This clinic allows shares of at most 30 days" in too_long.content.decode()
    assert "does not allow shares that let the doctor download" in with_download.content.decode()
    assert allowed.status_code == 302
    (made,) = shares_of(tenant)
    assert (made.grantee, made.allow_download) == (doctor, False)
