"""The clinic admin's shares page and per-study rights, and shares in the platform admin (portal.sharing)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import policy
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.sharing.models import Share, ShareLink, StudyUserObjectPermission
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, ShareFactory, ShareLinkFactory, StudyFactory, UserFactory

NOTE = "Private word for the doctor"


@pytest.fixture
def study(tenant):
    return StudyFactory(
        tenant=tenant, patient=PatientFactory(tenant=tenant, name="Doe^Jane"), description="CT HEAD"
    )


@pytest.fixture
def admin(tenant, member_factory):
    return member_factory(tenant, Role.TENANT_ADMIN)


@pytest.fixture
def doctor(tenant, member_factory):
    return member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shares_page(tenant, state: str | None = None) -> str:
    url = reverse("clinic-shares", args=[tenant.slug])
    return f"{url}?state={state}" if state else url


def right_url(tenant) -> str:
    return reverse("study-right-change", args=[tenant.slug])


def reloaded(share) -> Share:
    with tenant_scope(share.tenant):
        return Share.objects.get(pk=share.pk)


# The clinic's shares page


def test_the_clinic_admin_lists_active_and_ended_shares(tenant, study, admin, doctor):
    active = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    expired = ShareFactory(
        tenant=tenant, study=study, grantee=doctor, expires_at=timezone.now() - timedelta(days=1)
    )
    revoked = ShareFactory(
        tenant=tenant, study=study, grantee=doctor, revoked_at=timezone.now(), revoked_by=admin
    )
    client = client_of(admin)

    def listed(state):
        return {(row.share, row.state) for row in client.get(shares_page(tenant, state)).context["rows"]}

    assert listed(None) == {(active, "active")}
    assert listed("ended") == {(expired, "expired"), (revoked, "revoked")}
    assert listed("all") == {(active, "active"), (expired, "expired"), (revoked, "revoked")}
    page = client.get(shares_page(tenant)).content.decode()
    assert doctor.email in page and "CT HEAD" in page
    assert reverse("share-revoke", args=[tenant.slug, active.pk]) in page
    event = AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY_LIST, actor=admin).first()
    assert event.details == {"page": "clinic_shares", "state": "active", "share_links": []}
    assert (event.object_type, event.object_ids) == ("share", [str(active.pk)])


def test_the_clinic_admin_revokes_from_the_shares_page(tenant, study, admin, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)
    client = client_of(admin)

    response = client.post(
        reverse("share-revoke", args=[tenant.slug, share.pk]), {"next": shares_page(tenant)}
    )

    assert response.status_code == 302 and response.url == shares_page(tenant)
    assert reloaded(share).revoked_by == admin
    assert not policy.can(doctor, policy.Action.VIEW_STUDY, study)


def test_another_clinics_shares_are_not_listed(tenant, other_tenant, admin, doctor):
    ShareFactory(tenant=other_tenant, study=StudyFactory(tenant=other_tenant), grantee=doctor)

    assert client_of(admin).get(shares_page(tenant, "all")).context["rows"] == []


@pytest.mark.parametrize(
    "role", [Role.RADIOLOGIST, Role.REFERRING_PHYSICIAN, Role.AUDITOR, Role.PATIENT], ids=str
)
def test_only_clinic_admins_open_the_shares_page(tenant, member_factory, role):
    client = client_of(member_factory(tenant, role))

    assert client.get(shares_page(tenant)).status_code == 404
    assert client.post(right_url(tenant), {}).status_code == 404


def test_an_admin_of_another_clinic_gets_404(tenant, other_tenant, member_factory):
    assert (
        client_of(member_factory(other_tenant, Role.TENANT_ADMIN)).get(shares_page(tenant)).status_code == 404
    )


# Per-study rights (django-guardian)


def give(client, tenant, study, email, right, operation="give"):
    return client.post(
        right_url(tenant),
        {"study_uid": study.study_instance_uid, "email": email, "right": right, "operation": operation},
    )


def test_a_clinic_admin_gives_and_removes_a_doctor_a_right_on_one_study(tenant, study, admin, doctor):
    other = StudyFactory(tenant=tenant)
    client = client_of(admin)

    given = give(client, tenant, study, doctor.email.upper(), "view_study")

    assert given.status_code == 302
    assert policy.can(doctor, policy.Action.VIEW_STUDY, study)
    assert not policy.can(doctor, policy.Action.VIEW_STUDY, other)
    assert (
        client_of(doctor)
        .get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid]))
        .status_code
        == 200
    )
    page = client.get(shares_page(tenant)).content.decode()
    assert doctor.email in page and 'value="remove"' in page

    removed = give(client, tenant, study, doctor.email, "view_study", operation="remove")

    assert removed.status_code == 302
    assert not policy.can(doctor, policy.Action.VIEW_STUDY, study)
    granted, taken = AuditEvent.objects.filter(
        action__in=[AuditAction.PERMISSION_GRANTED, AuditAction.PERMISSION_REMOVED]
    ).order_by("pk")
    for event, action in ((granted, AuditAction.PERMISSION_GRANTED), (taken, AuditAction.PERMISSION_REMOVED)):
        assert (event.action, event.actor, event.tenant, event.actor_role) == (
            action,
            admin,
            tenant,
            Role.TENANT_ADMIN,
        )
        assert (event.object_type, event.object_ids) == ("study", [study.study_instance_uid])
        assert event.details == {"user": str(doctor.pk), "permission": "view_study"}


def test_a_download_right_lets_the_doctor_download(tenant, study, admin, doctor):
    give(client_of(admin), tenant, study, doctor.email, "download_study")

    assert policy.can(doctor, policy.Action.DOWNLOAD_STUDY, study)


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        (Role.RADIOLOGIST, "per-study rights are for referring doctors"),
        (Role.PATIENT, "per-study rights are for referring doctors"),
    ],
    ids=str,
)
def test_rights_are_given_to_referring_doctors_only(tenant, study, admin, member_factory, role, reason):
    member = member_factory(tenant, role)

    response = give(client_of(admin), tenant, study, member.email, "view_study")

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not StudyUserObjectPermission.objects.exists()


def test_a_right_is_not_given_to_a_stranger_nor_on_another_clinics_study(
    tenant, other_tenant, study, admin, doctor, member_factory
):
    stranger = member_factory(other_tenant, Role.REFERRING_PHYSICIAN)
    elsewhere = StudyFactory(tenant=other_tenant)
    client = client_of(admin)

    to_stranger = give(client, tenant, study, stranger.email, "view_study")
    on_elsewhere = give(client, tenant, elsewhere, doctor.email, "view_study")

    assert "No member of this clinic has" in to_stranger.content.decode()
    assert "No study of this clinic has this Study Instance UID." in on_elsewhere.content.decode()
    assert not StudyUserObjectPermission.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.PERMISSION_GRANTED).exists()


def test_removing_a_right_the_doctor_does_not_have_says_so(tenant, study, admin, doctor):
    response = give(client_of(admin), tenant, study, doctor.email, "share_study", operation="remove")

    assert "does not have the right" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.PERMISSION_REMOVED).exists()


# The platform admin


@pytest.fixture
def operator_client(db):
    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    return client


def test_operators_see_shares_by_identifiers_and_revoke_them(operator_client, tenant, study, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor, note=NOTE)

    listing = operator_client.get(reverse("admin:sharing_share_changelist")).content.decode()
    detail = operator_client.get(reverse("admin:sharing_share_change", args=[share.pk])).content.decode()
    response = operator_client.post(
        reverse("admin:sharing_share_changelist"), {"action": "revoke", "_selected_action": [share.pk]}
    )

    assert study.study_instance_uid in listing and doctor.email in listing
    for page in (listing, detail):
        assert NOTE not in page and "Doe^Jane" not in page
    assert response.status_code == 302
    assert reloaded(share).revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.SHARE_REVOKED)
    assert (event.tenant, event.actor_role, event.details["by"]) == (
        tenant,
        "platform_operator",
        "platform_admin",
    )


def test_operators_cannot_add_or_change_shares_in_the_admin(operator_client, tenant, study, doctor):
    share = ShareFactory(tenant=tenant, study=study, grantee=doctor)

    assert operator_client.get(reverse("admin:sharing_share_add")).status_code == 403
    operator_client.post(reverse("admin:sharing_share_change", args=[share.pk]), {"allow_download": "on"})
    assert not reloaded(share).allow_download


def test_the_clinic_admin_lists_the_clinics_share_links_with_their_state(
    tenant, other_tenant, study, admin, member_factory
):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    live = ShareLinkFactory(
        tenant=tenant, studies=[study], created_by=radiologist, label="Dr. Outside", use_limit=3
    )
    revoked = ShareLinkFactory(
        tenant=tenant, studies=[study], label="Second opinion", revoked_at=timezone.now()
    )
    ShareLinkFactory(tenant=other_tenant, studies=[StudyFactory(tenant=other_tenant)], label="Elsewhere")
    client = client_of(admin)

    active_page = client.get(shares_page(tenant))
    all_page = client.get(shares_page(tenant, "all"))

    assert [(row.link, row.state) for row in active_page.context["links"]] == [(live, "active")]
    assert {(row.link, row.state) for row in all_page.context["links"]} == {
        (live, "active"),
        (revoked, "revoked"),
    }
    html = all_page.content.decode()
    assert reverse("share-link-detail", args=[tenant.slug, live.pk]) in html
    assert "Elsewhere" not in html
    listed = AuditEvent.objects.filter(action=AuditAction.VIEW_STUDY_LIST, details__state="all").get()
    assert sorted(listed.details["share_links"]) == sorted([live.pk, revoked.pk])


def test_operators_see_share_links_and_revoke_them(operator_client, tenant, study):
    link = ShareLinkFactory(tenant=tenant, studies=[study], label="Dr. Outside")

    listing = operator_client.get(reverse("admin:sharing_sharelink_changelist")).content.decode()
    response = operator_client.post(
        reverse("admin:sharing_sharelink_changelist"), {"action": "revoke", "_selected_action": [link.pk]}
    )

    assert "Dr. Outside" in listing and link.token not in listing and "Doe^Jane" not in listing
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert ShareLink.objects.get(pk=link.pk).revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.SHARE_LINK_REVOKED)
    assert (event.tenant, event.actor_role, event.object_ids) == (tenant, "platform_operator", [str(link.pk)])
