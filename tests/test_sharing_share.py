"""Sharing a study with a referring doctor from the study page: who may, with whom, until when, and the
audit trail it leaves (portal.sharing)."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts import policy
from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.sharing import services
from portal.sharing.models import Share
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, ShareFactory, StudyFactory, UserFactory

NOTE = "Please compare with the 2023 scan."


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant, name="Doe^Jane")


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient, description="CT HEAD")


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


@pytest.fixture
def doctor(tenant, member_factory):
    return member_factory(tenant, Role.REFERRING_PHYSICIAN, user=UserFactory(email="dr.grey@example.org"))


def share_url(study) -> str:
    return reverse("study-share", args=[study.tenant.slug, study.study_instance_uid])


def study_url(study) -> str:
    return reverse("study-detail", args=[study.tenant.slug, study.study_instance_uid])


def in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def share_form(email: str, **overrides) -> dict:
    data = {"recipient": "member", "email": email, "scope": "study", "last_day": in_days(14), "note": NOTE}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def shares_of(tenant) -> list[Share]:
    with tenant_scope(tenant):
        return list(Share.objects.select_related("grantee", "granted_by", "study", "patient"))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def events_after(marker: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=marker).order_by("pk"))


def errors_of(response) -> str:
    return " ".join(str(error) for error in response.context["form"].errors.values())


def test_a_radiologist_shares_a_study_with_a_doctor_of_the_clinic(client, tenant, study, radiologist, doctor):
    client.force_login(radiologist)
    marker = last_event_id()

    response = client.post(share_url(study), share_form(doctor.email, allow_download="on"))

    assert response.status_code == 302
    assert response.url == study_url(study)
    (share,) = shares_of(tenant)
    assert (share.study, share.patient, share.grantee, share.granted_by) == (study, None, doctor, radiologist)
    assert share.allow_download and share.note == NOTE
    last_day = timezone.localdate() + timedelta(days=14)
    assert share.expires_at == timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))
    (event,) = events_after(marker)
    assert event.action == AuditAction.SHARE_GRANTED
    assert (event.actor, event.tenant, event.actor_role) == (radiologist, tenant, Role.RADIOLOGIST)
    assert (event.object_type, event.object_ids) == ("share", [str(share.pk)])
    assert event.details == {
        "study": study.study_instance_uid,
        "grantee": str(doctor.pk),
        "expires_at": share.expires_at.isoformat(),
        "allow_download": True,
        "invited": False,
    }
    # The note is for the doctor; names and notes never reach the trail.
    assert NOTE not in str(event.details) and "Doe" not in str(event.details)


def test_the_doctor_then_sees_it_on_the_study_page_with_the_note(client, tenant, study, radiologist, doctor):
    client.force_login(radiologist)
    client.post(share_url(study), share_form(doctor.email))
    client.force_login(doctor)

    page = client.get(study_url(study))

    assert page.status_code == 200
    assert NOTE in page.content.decode()
    assert f"Shared with you by {radiologist.email}" in page.content.decode()
    assert policy.can(doctor, policy.Action.VIEW_STUDY, study)
    assert not policy.can(doctor, policy.Action.DOWNLOAD_STUDY, study)


def test_sharing_every_study_of_the_patient_covers_later_ones(
    client, tenant, patient, study, radiologist, doctor
):
    client.force_login(radiologist)

    client.post(share_url(study), share_form(doctor.email, scope="patient"))
    later = StudyFactory(tenant=tenant, patient=patient)
    stranger = StudyFactory(tenant=tenant)

    (share,) = shares_of(tenant)
    assert (share.study, share.patient) == (None, patient)
    assert policy.can(doctor, policy.Action.VIEW_STUDY, later)
    assert not policy.can(doctor, policy.Action.VIEW_STUDY, stranger)
    event = AuditEvent.objects.get(action=AuditAction.SHARE_GRANTED)
    assert event.details["patient"] == str(patient.pk) and "study" not in event.details


@pytest.mark.parametrize(
    ("role", "reason"),
    [
        (Role.PATIENT, "a patient cannot be given a share"),
        (Role.RADIOLOGIST, "already sees every study"),
        (Role.TECHNOLOGIST, "already sees every study"),
        (Role.BILLING, "a role that never opens studies"),
        (Role.AUDITOR, "a role that never opens studies"),
    ],
    ids=str,
)
def test_only_referring_doctors_of_the_clinic_are_given_shares(
    client, tenant, study, radiologist, member_factory, role, reason
):
    member = member_factory(tenant, role)
    client.force_login(radiologist)

    response = client.post(share_url(study), share_form(member.email))

    assert response.status_code == 200
    assert reason in errors_of(response)
    assert shares_of(tenant) == []
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_GRANTED).exists()


def test_a_doctor_of_another_clinic_is_reached_only_by_invitation(
    client, tenant, other_tenant, study, radiologist, member_factory
):
    outsider = member_factory(other_tenant, Role.REFERRING_PHYSICIAN)
    client.force_login(radiologist)

    as_member = client.post(share_url(study), share_form(outsider.email))
    unknown = client.post(share_url(study), share_form("nobody@example.org"))

    # The same answer as for an address nobody has: the other clinic's account is not revealed.
    assert errors_of(as_member).replace(outsider.email, "X") == errors_of(unknown).replace(
        "nobody@example.org", "X"
    )
    assert "Invite them by e-mail instead" in errors_of(as_member)
    assert shares_of(tenant) == []
    assert not Membership.objects.filter(user=outsider, tenant=tenant).exists()


def test_inviting_a_doctor_of_another_clinic_makes_them_a_referring_doctor_here(
    client, tenant, other_tenant, study, radiologist, member_factory
):
    outsider = member_factory(other_tenant, Role.RADIOLOGIST)
    client.force_login(radiologist)
    marker = last_event_id()

    response = client.post(share_url(study), share_form(outsider.email.upper(), recipient="invite"))

    assert response.status_code == 302
    assert Membership.objects.get(user=outsider, tenant=tenant).role == Role.REFERRING_PHYSICIAN
    assert Membership.objects.get(user=outsider, tenant=other_tenant).role == Role.RADIOLOGIST
    (share,) = shares_of(tenant)
    assert share.grantee == outsider
    granted, invited = events_after(marker)
    assert granted.action == AuditAction.SHARE_GRANTED and granted.details["invited"] is True
    assert invited.action == AuditAction.INVITATION_SENT
    assert (invited.actor, invited.tenant, invited.object_type, invited.object_ids) == (
        radiologist,
        tenant,
        "user",
        [str(outsider.pk)],
    )
    assert invited.details == {"role": Role.REFERRING_PHYSICIAN, "share": str(share.pk)}


def test_inviting_a_new_address_creates_the_doctor_account(client, tenant, study, radiologist):
    client.force_login(radiologist)

    client.post(
        share_url(study), share_form("New.Doctor@Example.org", recipient="invite", full_name="Dr New Doctor")
    )

    doctor = User.objects.get(email="new.doctor@example.org")
    assert doctor.full_name == "Dr New Doctor"
    assert doctor.last_login is None
    assert Membership.objects.get(user=doctor).tenant == tenant
    assert policy.can(doctor, policy.Action.VIEW_STUDY, study)


def test_inviting_a_patient_of_the_clinic_is_refused(client, tenant, study, radiologist, member_factory):
    patient_account = member_factory(tenant, Role.PATIENT)
    client.force_login(radiologist)

    response = client.post(share_url(study), share_form(patient_account.email, recipient="invite"))

    assert "a patient cannot be given a share" in errors_of(response)
    assert Membership.objects.get(user=patient_account).role == Role.PATIENT
    assert shares_of(tenant) == []


@pytest.mark.parametrize(
    ("last_day", "error"),
    [
        (None, "This field is required."),
        (in_days(-1), "already have ended"),
        (in_days(services.MAX_SHARE_DAYS + 1), f"at most {services.MAX_SHARE_DAYS} days"),
    ],
    ids=["missing", "past", "too-far"],
)
def test_a_share_must_end_within_a_year(client, tenant, study, radiologist, doctor, last_day, error):
    client.force_login(radiologist)

    response = client.post(share_url(study), share_form(doctor.email, last_day=last_day or ""))

    assert error in errors_of(response)
    assert shares_of(tenant) == []


def test_a_share_may_end_today_or_in_a_year_at_the_latest(
    client, tenant, study, radiologist, doctor, patient
):
    client.force_login(radiologist)

    today = client.post(share_url(study), share_form(doctor.email, last_day=in_days(0)))
    in_a_year = client.post(
        share_url(study), share_form(doctor.email, last_day=in_days(services.MAX_SHARE_DAYS), scope="patient")
    )

    assert (today.status_code, in_a_year.status_code) == (302, 302)
    assert len(shares_of(tenant)) == 2


def test_the_same_share_twice_is_refused_while_the_first_lasts(client, tenant, study, radiologist, doctor):
    ShareFactory(tenant=tenant, study=study, grantee=doctor)
    client.force_login(radiologist)

    response = client.post(share_url(study), share_form(doctor.email))

    assert "already has this share" in errors_of(response)
    assert len(shares_of(tenant)) == 1


@pytest.mark.parametrize(
    "role", [Role.BILLING, Role.AUDITOR, Role.TECHNOLOGIST, Role.REFERRING_PHYSICIAN], ids=str
)
def test_members_who_may_not_share_the_study_get_404(client, tenant, study, member_factory, role):
    client.force_login(member_factory(tenant, role))

    assert client.get(share_url(study)).status_code == 404
    assert client.post(share_url(study), share_form("dr.grey@example.org")).status_code == 404
    assert shares_of(tenant) == []


def test_a_doctor_with_a_share_may_not_share_it_onward(client, tenant, study, doctor, member_factory):
    ShareFactory(tenant=tenant, study=study, grantee=doctor, allow_download=True)
    colleague = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    client.force_login(doctor)

    assert client.post(share_url(study), share_form(colleague.email)).status_code == 404
    assert len(shares_of(tenant)) == 1


def test_a_member_of_another_clinic_gets_404(client, tenant, other_tenant, study, member_factory):
    client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))

    assert client.get(share_url(study)).status_code == 404
    other_clinic_url = reverse("study-share", args=[other_tenant.slug, study.study_instance_uid])
    assert client.get(other_clinic_url).status_code == 404


def test_a_doctor_given_the_share_right_shares_with_colleagues_but_invites_nobody(
    client, tenant, patient, study, doctor, member_factory
):
    assign_perm("imaging.share_study", doctor, study)
    assign_perm("imaging.view_study", doctor, study)
    colleague = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    client.force_login(doctor)

    form = client.get(share_url(study)).context["form"]
    # Neither an invitation nor every study of the patient: both reach beyond the one study.
    assert "recipient" not in form.fields and "scope" not in form.fields
    invited = client.post(share_url(study), share_form("someone.new@example.org", recipient="invite"))
    shared = client.post(share_url(study), share_form(colleague.email, scope="patient"))

    assert "No referring doctor of this clinic has someone.new@example.org." in errors_of(invited)
    assert not User.objects.filter(email="someone.new@example.org").exists()
    assert shared.status_code == 302
    (share,) = shares_of(tenant)
    assert (share.grantee, share.study, share.patient) == (colleague, study, None)


def test_a_patient_shares_their_own_study_with_a_doctor_of_the_clinic(client, tenant, patient, study, doctor):
    owner = Membership.objects.create(user=UserFactory(), tenant=tenant, role=Role.PATIENT).user
    with tenant_scope(tenant):
        patient.account = owner
        patient.save()
    client.force_login(owner)

    response = client.post(share_url(study), share_form(doctor.email))

    assert response.status_code == 302
    (share,) = shares_of(tenant)
    assert (share.grantee, share.granted_by) == (doctor, owner)
    assert AuditEvent.objects.get(action=AuditAction.SHARE_GRANTED).actor_role == Role.PATIENT


def test_sharing_with_oneself_is_refused(tenant, study, doctor):
    assign_perm("imaging.share_study", doctor, study)

    with pytest.raises(services.ShareRefused, match="yourself"):
        services.share_with_doctor(
            sharer=doctor, study=study, email=doctor.email, last_day=timezone.localdate()
        )


def test_the_form_offers_the_clinics_doctors_to_staff_only(
    client, tenant, study, radiologist, doctor, member_factory
):
    member_factory(tenant, Role.PATIENT, user=UserFactory(email="a.patient@example.org"))
    client.force_login(radiologist)
    staff_page = client.get(share_url(study)).content.decode()
    assign_perm("imaging.share_study", doctor, study)
    client.force_login(doctor)
    doctor_page = client.get(share_url(study)).content.decode()

    assert f'<option value="{doctor.email}">' in staff_page
    assert "a.patient@example.org" not in staff_page
    assert "clinic-doctors" not in doctor_page
