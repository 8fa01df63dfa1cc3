"""Patient onboarding (issue 8): clinic staff issue an access code; the patient joins with it and their
date of birth, once; wrong answers are neither told apart nor allowed for long."""

import datetime
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, SecurityPolicy, User
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import Patient
from portal.patients import codes, services
from portal.patients.models import PatientAccessCode
from portal.patients.tasks import send_patient_access_code
from portal.tenancy import tenant_scope
from tests.factories import AGREEMENT_SIGNER_EMAIL, PatientFactory, StudyFactory, UserFactory

BIRTH_DATE = datetime.date(1980, 4, 17)
PASSWORD = "violet kettle marches north"
ADDRESS = "198.51.100.23"


@pytest.fixture
def patient(tenant):
    return PatientFactory(tenant=tenant, name="Lovelace^Ada", birth_date=BIRTH_DATE)


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(tenant=tenant, patient=patient, description="MR KNEE")


def issue_url(study) -> str:
    return reverse(
        "patient-access-code-new",
        kwargs={"tenant_slug": study.tenant.slug, "study_uid": study.study_instance_uid},
    )


def issue(client, study, **data) -> str:
    """Issue a printed code through the page; returns the code as shown."""
    response = client.post(issue_url(study), {"delivery": "print", "valid_days": "30"} | data)
    assert response.status_code == 200
    return re.search(r'data-testid="access-code">([A-Z0-9-]+)<', response.content.decode()).group(1)


def make_code(patient, *, expires_in=timedelta(days=30)) -> str:
    plain = codes.new_code()
    with tenant_scope(patient.tenant):
        PatientAccessCode.objects.create(
            tenant=patient.tenant,
            patient=patient,
            code_hash=codes.digest(plain),
            issued_at=timezone.now(),
            expires_at=timezone.now() + expires_in,
        )
    return codes.grouped(plain)


def fresh_code(patient) -> PatientAccessCode:
    with tenant_scope(patient.tenant):
        return PatientAccessCode.objects.filter(patient=patient).latest("issued_at")


def join(client, code, birth_date=BIRTH_DATE, *, email="ada@example.org", password=PASSWORD, address=ADDRESS):
    data = {"code": code, "birth_date": birth_date.isoformat(), "email": email, "password": password}
    return client.post(reverse("patient-join"), data, REMOTE_ADDR=address)


def linked_account(patient):
    with tenant_scope(patient.tenant):
        return Patient.objects.get(pk=patient.pk).account


# --- Issuing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TECHNOLOGIST, Role.RADIOLOGIST])
def test_clinic_staff_issue_a_printable_code_shown_once_and_stored_hashed(
    role, client, tenant, study, patient, member_factory
):
    client.force_login(member_factory(tenant, role))

    shown = issue(client, study)

    stored = fresh_code(patient)
    assert stored.code_hash == codes.digest(codes.normalized(shown))
    assert codes.normalized(shown) not in stored.code_hash
    assert stored.expires_at - stored.issued_at == timedelta(days=30)
    event = AuditEvent.objects.get(action=AuditAction.ACCESS_CODE_ISSUED)
    assert event.tenant == tenant and event.actor_role == role
    assert event.object_ids == [str(stored.pk), f"patient:{patient.pk}"]
    assert "Lovelace" not in str(event.details)


def test_the_study_page_offers_the_code_to_staff_only(client, tenant, study, member_factory):
    url = reverse("study-detail", kwargs={"tenant_slug": tenant.slug, "study_uid": study.study_instance_uid})
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))
    assert b'data-testid="issue-access-code"' in client.get(url).content

    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    from portal.sharing.models import Share

    with tenant_scope(tenant):
        Share.objects.create(
            tenant=tenant, study=study, grantee=doctor, expires_at=timezone.now() + timedelta(days=3)
        )
    client.force_login(doctor)
    page = client.get(url)
    assert page.status_code == 200
    assert b'data-testid="issue-access-code"' not in page.content


@pytest.mark.parametrize("role", [Role.BILLING, Role.AUDITOR, Role.REFERRING_PHYSICIAN, Role.PATIENT])
def test_other_roles_get_404_and_issue_nothing(role, client, tenant, study, patient, member_factory):
    client.force_login(member_factory(tenant, role))

    assert client.get(issue_url(study)).status_code == 404
    assert client.post(issue_url(study), {"delivery": "print", "valid_days": "30"}).status_code == 404
    with tenant_scope(tenant):
        assert not PatientAccessCode.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).count() == 2


def test_staff_of_another_clinic_get_404(client, other_tenant, study, member_factory):
    client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))

    assert client.post(issue_url(study), {"delivery": "print", "valid_days": "30"}).status_code == 404


def test_a_new_code_replaces_the_earlier_unused_one(client, tenant, study, member_factory):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    first = issue(client, study)
    second = issue(client, study)

    response = join(Client(), first)

    assert "replaced by a newer one" in response.content.decode()
    assert join(Client(), second).status_code == 302


def test_a_patient_without_a_date_of_birth_gets_no_code(client, tenant, member_factory):
    study = StudyFactory(tenant=tenant, patient=PatientFactory(tenant=tenant, birth_date=None))
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    response = client.post(issue_url(study), {"delivery": "print", "valid_days": "30"})

    assert "no date of birth on record" in response.content.decode()
    with tenant_scope(tenant):
        assert not PatientAccessCode.objects.exists()


def test_an_emailed_code_is_made_by_the_task_and_works(client, tenant, study, patient, member_factory):
    client.force_login(member_factory(tenant, Role.TENANT_ADMIN))
    response = client.post(
        issue_url(study), {"delivery": "email", "email": "ada@example.org", "valid_days": "10"}
    )
    assert b'data-testid="access-code-emailed"' in response.content
    stored = fresh_code(patient)
    assert stored.code_hash == "" and stored.email == "ada@example.org"

    send_patient_access_code(stored.pk, tenant.pk, "portal.example.org", True)

    (message,) = mail.outbox
    assert message.to == ["ada@example.org"]
    assert "Lovelace" not in message.body and tenant.name not in message.body
    assert "https://portal.example.org/patients/join/" in message.body
    code = re.search(r"access code: ([A-Z0-9-]+)", message.body).group(1)
    assert join(Client(), code).status_code == 302


# --- Joining --------------------------------------------------------------------------------------------


def test_a_patient_joins_with_code_and_birth_date_and_sees_their_images(client, tenant, patient, study):
    code = make_code(patient)

    response = join(client, code)

    assert response.status_code == 302 and response["Location"] == reverse("my-images")
    user = User.objects.get(email="ada@example.org")
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.PATIENT
    assert linked_account(patient) == user
    stored = fresh_code(patient)
    assert stored.used_at is not None and stored.used_by == user
    event = AuditEvent.objects.get(action=AuditAction.PATIENT_JOINED)
    assert event.actor == user and event.tenant == tenant and event.details["new_account"] is True
    assert b"MR KNEE" in client.get(reverse("my-images")).content


def test_a_code_works_once(tenant, patient):
    code = make_code(patient)
    assert join(Client(), code).status_code == 302

    again = join(Client(), code, email="someone@example.org")

    assert "already been used" in again.content.decode()
    assert not User.objects.filter(email="someone@example.org").exists()


def test_an_expired_code_does_not_work(tenant, patient):
    code = make_code(patient, expires_in=timedelta(seconds=-1))

    response = join(Client(), code)

    assert "expired" in response.content.decode()
    assert linked_account(patient) is None


def test_wrong_code_and_wrong_birth_date_get_the_same_answer(tenant, patient):
    code = make_code(patient)

    wrong_code = join(Client(), "ZZZZ-ZZZZ-ZZZZ").content.decode()
    wrong_birth_date = join(Client(), code, datetime.date(1980, 4, 18)).content.decode()

    def error(page: str) -> str:
        return re.search(r'data-testid="form-errors">(.*?)</div>', page, re.S).group(1)

    assert error(wrong_code) == error(wrong_birth_date)
    assert linked_account(patient) is None
    failures = AuditEvent.objects.filter(action=AuditAction.PATIENT_JOIN_FAILED).order_by("sequence")
    assert [e.details["reason"] for e in failures] == ["unknown_code", "wrong_birth_date"]
    assert all(e.outcome == Outcome.FAILURE and e.source_address == ADDRESS for e in failures)
    assert "1980" not in str([e.details for e in failures])


def test_the_fifth_wrong_birth_date_locks_the_code_even_for_the_right_one(tenant, patient):
    code = make_code(patient)
    for attempt in range(services.MAX_FAILED_ATTEMPTS):
        join(Client(), code, datetime.date(1990, 1, 1 + attempt), address=f"203.0.113.{attempt + 1}")

    response = join(Client(), code)

    assert fresh_code(patient).locked_at is not None
    assert "locked" in response.content.decode()
    assert linked_account(patient) is None


def test_a_right_answer_forgives_earlier_slips(tenant, patient):
    code = make_code(patient)
    for _ in range(services.MAX_FAILED_ATTEMPTS - 1):
        join(Client(), code, datetime.date(1990, 1, 1))

    assert join(Client(), code).status_code == 302


def test_guesses_from_one_address_are_throttled(tenant, patient):
    for _ in range(services.GUESSES_PER_ADDRESS):
        join(Client(), "ZZZZ-ZZZZ-ZZZZ")
    code = make_code(patient)

    throttled = join(Client(), code)
    elsewhere = join(Client(), code, address="192.0.2.99")

    assert throttled.status_code == 429 and throttled["Retry-After"] == "900"
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, details__reason="throttled").exists()
    assert elsewhere.status_code == 302


def test_the_password_policy_applies(tenant, patient):
    code = make_code(patient)

    response = join(Client(), code, password="password1234")

    assert response.status_code == 200
    assert "data breaches" in response.content.decode()
    assert fresh_code(patient).used_at is None


def test_an_existing_account_is_linked_with_its_password(tenant, patient):
    existing = UserFactory(email="ada@example.org")
    code = make_code(patient)

    wrong = join(Client(), code, password="not the right password at all")
    right = join(Client(), code, password="correct horse battery")

    assert "already exists" in wrong.content.decode()
    assert right.status_code == 302
    assert linked_account(patient) == existing


def test_a_patient_of_two_clinics_joins_the_second_while_signed_in(
    client, tenant, other_tenant, patient, study
):
    join(client, make_code(patient))
    user = User.objects.get(email="ada@example.org")
    second = PatientFactory(tenant=other_tenant, birth_date=BIRTH_DATE)
    StudyFactory(tenant=other_tenant, patient=second, description="CT CHEST")

    page = client.get(reverse("patient-join"))
    assert b'name="password"' not in page.content
    response = client.post(
        reverse("patient-join"), {"code": make_code(second), "birth_date": BIRTH_DATE.isoformat()}
    )

    assert response.status_code == 302
    assert linked_account(second) == user
    assert set(Membership.objects.filter(user=user).values_list("tenant__slug", "role")) == {
        (tenant.slug, Role.PATIENT),
        (other_tenant.slug, Role.PATIENT),
    }
    # One account (the clinics' agreements signer aside, tests/factories.py).
    assert User.objects.exclude(email=AGREEMENT_SIGNER_EMAIL).count() == 1
    images = client.get(reverse("my-images")).content.decode()
    assert "MR KNEE" in images and "CT CHEST" in images


def test_staff_of_the_clinic_cannot_join_it_as_a_patient_on_the_same_account(
    client, tenant, patient, member_factory
):
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    response = client.post(reverse("patient-join"), {"code": make_code(patient), "birth_date": "1980-04-17"})

    assert "already works at this clinic" in response.content.decode()
    assert linked_account(patient) is None
    assert fresh_code(patient).used_at is None


def test_a_clinic_requiring_mfa_of_patients_has_them_enrol_after_joining(client, tenant, patient):
    SecurityPolicy.objects.update_or_create(
        tenant=tenant, defaults={"mfa_required_roles": [Role.PATIENT, Role.RADIOLOGIST]}
    )

    join(client, make_code(patient))
    response = client.get(reverse("my-images"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa:security"))


def test_without_mfa_required_the_patient_goes_straight_to_their_images(client, tenant, patient):
    join(client, make_code(patient))

    assert client.get(reverse("my-images")).status_code == 200
    assert client.get(reverse("home"))["Location"] == reverse("my-images")
