"""Inviting a doctor by e-mail while sharing: a real worker sends the mail (portal.sharing.tasks), its link
sets the new doctor's password, and the mail says nothing about the patient."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from tests.factories import MembershipFactory, PatientFactory, StudyFactory, TenantFactory, UserFactory
from tests.mail import mails, reset_link, start_mail_worker

NEW_PASSWORD = "a-fresh-passphrase-for-the-doctor"


@pytest.fixture
def clinic(transactional_db):
    tenant = TenantFactory(slug="alpha", name="Alpha Imaging")
    study = StudyFactory(
        tenant=tenant, patient=PatientFactory(tenant=tenant, name="Doe^Jane"), description="CT HEAD"
    )
    radiologist = MembershipFactory(tenant=tenant, role=Role.RADIOLOGIST).user
    client = Client()
    client.force_login(radiologist)
    return tenant, study, client


def invite(client, study, email: str):
    return client.post(
        reverse("study-share", args=[study.tenant.slug, study.study_instance_uid]),
        {
            "recipient": "invite",
            "email": email,
            "full_name": "Dr Meredith Grey",
            "scope": "study",
            "last_day": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
    )


def test_an_invited_doctor_sets_a_password_with_the_mailed_link_and_opens_the_study(clinic, worker_factory):
    tenant, study, client = clinic
    start_mail_worker(worker_factory)

    response = invite(client, study, "dr.grey@example.org")

    assert response.status_code == 302
    (mail,) = mails()
    assert "To: dr.grey@example.org" in mail
    assert "Alpha Imaging" in mail
    assert "Doe" not in mail and "CT HEAD" not in mail and study.study_instance_uid not in mail
    doctor = User.objects.get(email="dr.grey@example.org")
    assert Membership.objects.get(user=doctor, tenant=tenant).role == Role.REFERRING_PHYSICIAN
    invited = AuditEvent.objects.get(action=AuditAction.INVITATION_SENT)
    assert invited.object_ids == [str(doctor.pk)]

    visitor = Client()
    form_url = visitor.get(reset_link(mail)).url  # Django swaps the token for a session value
    done = visitor.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done.status_code == 302
    doctor.refresh_from_db()
    assert doctor.check_password(NEW_PASSWORD)
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET, actor=doctor).exists()
    visitor.force_login(doctor)
    assert (
        visitor.get(reverse("study-detail", args=[tenant.slug, study.study_instance_uid])).status_code == 200
    )


def test_a_doctor_who_already_signs_in_elsewhere_is_told_to_sign_in(clinic, worker_factory):
    tenant, study, client = clinic
    elsewhere = TenantFactory(slug="bravo", name="Bravo Radiology")
    doctor = MembershipFactory(
        tenant=elsewhere, role=Role.REFERRING_PHYSICIAN, user=UserFactory(last_login=timezone.now())
    ).user
    start_mail_worker(worker_factory)

    invite(client, study, doctor.email)

    (mail,) = mails()
    assert f"To: {doctor.email}" in mail
    assert "/accounts/reset/" not in mail
    assert "http://testserver/accounts/login/" in mail
    assert "http://testserver/shared/" in mail
    assert Membership.objects.get(user=doctor, tenant=tenant).role == Role.REFERRING_PHYSICIAN
    assert doctor.check_password("correct horse battery")
