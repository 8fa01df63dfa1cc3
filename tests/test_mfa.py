"""Second factors (accounts/mfa): who must use one, enrolment, codes, backup codes, throttling, removal and
the operator's reset, through the pages a user sees."""

import datetime
import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa.models import BackupCode, BackupCodeDevice, normalise_backup_code
from accounts.mfa.sessions import VERIFIED_AT_SESSION_KEY
from accounts.mfa.views import WRONG_CODE
from accounts.models import PasswordHistory, SecurityPolicy
from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent, Outcome
from tests.factories import StudyFactory, UserFactory
from tests.mfa import (
    TEST_TOTP_KEY,
    give_authenticator_app,
    pass_second_factor,
    sign_in,
    sign_in_with_password,
    totp_code,
)

OTHER_TOTP_KEY = "00112233445566778899aabbccddeeff00112233"


@pytest.fixture
def technologist(tenant, member_factory):
    return member_factory(tenant, Role.TECHNOLOGIST)


@pytest.fixture
def study(tenant):
    return StudyFactory(tenant=tenant)


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def phi_routes(tenant, study) -> dict[str, str]:
    return {
        "clinic page": reverse("clinic-dashboard", args=[tenant.slug]),
        "study page": reverse("study-detail", args=[tenant.slug, study.study_instance_uid]),
        "viewer": reverse("viewer", args=[tenant.slug]),
        "REST API": reverse("api-studies", args=[tenant.slug]),
        "DICOMweb": reverse("dicomweb-stow", args=[tenant.slug]),
    }


def test_a_technologist_without_a_second_factor_must_enrol_before_reaching_any_phi(
    client, tenant, study, technologist
):
    landed = sign_in_with_password(client, technologist)

    assert landed.redirect_chain[-1][0] == f"{reverse('mfa:security')}?next=%2F"
    assert 'data-testid="mfa-required"' in landed.content.decode()
    for name, url in phi_routes(tenant, study).items():
        response = client.get(url)
        if url.startswith(("/api/", "/dicomweb/")):
            assert response.status_code == 403, name
            assert "requires a second factor" in response.json()["detail"], name
        else:
            assert response.status_code == 302, name
            assert response["Location"].startswith(reverse("mfa:security")), name
    assert client.get(reverse("password_change"))["Location"].startswith(reverse("mfa:security"))
    assert client.get(reverse("mfa:add-totp")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_an_api_token_is_its_own_credential_and_is_not_held_at_enrolment(client, tenant, study, technologist):
    _, token = issue_token(technologist, tenant)

    response = Client().get(
        reverse("api-studies", args=[tenant.slug]), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200


def test_enrolling_an_authenticator_app_then_signing_in_with_its_code(client, tenant, study, technologist):
    sign_in_with_password(client, technologist)
    page = client.get(reverse("mfa:add-totp"), {"next": "/t/alpha/"}).content.decode()
    device = TOTPDevice.objects.get(user=technologist, confirmed=False)

    assert 'src="data:image/svg+xml' in page  # the QR code, drawn on the server
    assert 'data-testid="totp-secret"' in page
    confirmed = client.post(reverse("mfa:add-totp"), {"code": totp_code(device.key), "next": "/t/alpha/"})

    assert confirmed["Location"] == f"{reverse('mfa:security')}?next=%2Ft%2Falpha%2F"
    assert client.get(reverse("clinic-dashboard", args=["alpha"])).status_code == 200
    assert [e.details for e in events(AuditAction.MFA_ENROLLED)] == [{"kind": "totp"}]

    client.post(reverse("logout"))
    landed = sign_in_with_password(client, technologist)

    assert landed.redirect_chain[-1][0] == f"{reverse('mfa:verify')}?next=%2F"
    assert client.get(reverse("api-studies", args=["alpha"])).status_code == 403
    # The next step's code: the one above was used, and a code works once.
    passed = pass_second_factor(client, totp_code(device.key, steps_ahead=1), "/t/alpha/")

    assert passed["Location"] == "/t/alpha/"
    assert client.get(reverse("api-studies", args=["alpha"])).status_code == 200
    verified = events(AuditAction.MFA_VERIFIED)[-1]
    assert (verified.actor, verified.details) == (technologist, {"kind": "totp"})


def test_a_code_works_only_once(client, technologist):
    give_authenticator_app(technologist)
    code = totp_code()
    sign_in_with_password(client, technologist)
    assert pass_second_factor(client, code).status_code == 302
    client.post(reverse("logout"))

    sign_in_with_password(client, technologist)
    replayed = pass_second_factor(client, code)

    assert replayed.status_code == 200 and WRONG_CODE in replayed.content.decode()


def test_a_wrong_code_is_refused_and_the_next_attempts_are_throttled(client, technologist):
    device = give_authenticator_app(technologist)
    wrong = f"{(int(totp_code()) + 1) % 1_000_000:06d}"
    sign_in_with_password(client, technologist)

    refused = pass_second_factor(client, wrong)
    # django-otp's back-off: after n wrong codes the device checks nothing for 2^(n-1) seconds.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now())
    throttled = pass_second_factor(client, totp_code())

    assert refused.status_code == 200 and WRONG_CODE in refused.content.decode()
    assert throttled.status_code == 429
    assert "Too many wrong codes" in throttled.content.decode()
    assert client.get(reverse("clinic-dashboard", args=["alpha"])).status_code == 302
    failures = events(AuditAction.MFA_FAILED)
    assert [(e.outcome, e.details) for e in failures] == [
        (Outcome.FAILURE, {"kind": "totp", "throttled": False}),
        (Outcome.FAILURE, {"kind": "totp", "throttled": True}),
    ]

    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - datetime.timedelta(seconds=2)
    )
    assert pass_second_factor(client, totp_code())["Location"] == "/"


def test_backup_codes_are_shown_once_stored_hashed_and_each_works_once(client, technologist):
    give_authenticator_app(technologist)
    sign_in(client, technologist.email)

    page = client.post(reverse("mfa:backup-codes"))
    codes = re.findall(r"<code>([^<]+)</code>", page.content.decode())

    assert len(codes) == 10 == len(set(codes))
    assert "no-store" in page["Cache-Control"]
    stored = set(BackupCode.objects.filter(device__user=technologist).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not stored & ({*codes} | {normalise_backup_code(code) for code in codes})
    assert events(AuditAction.MFA_ENROLLED)[-1].details == {
        "kind": "backup_codes",
        "codes": 10,
        "replaced": False,
    }

    client.post(reverse("logout"))
    sign_in_with_password(client, technologist)
    assert pass_second_factor(client, codes[0])["Location"] == "/"
    used = events(AuditAction.MFA_BACKUP_CODE_USED)
    assert [(e.actor, e.details) for e in used] == [(technologist, {"remaining": 9})]
    assert events(AuditAction.MFA_VERIFIED)[-1].details == {"kind": "backup_codes"}

    client.post(reverse("logout"))
    sign_in_with_password(client, technologist)
    # Typed as read aloud: capitals, without the hyphens.
    assert pass_second_factor(client, codes[1].replace("-", "").upper())["Location"] == "/"

    client.post(reverse("logout"))
    sign_in_with_password(client, technologist)
    again = pass_second_factor(client, codes[0])

    assert again.status_code == 200 and WRONG_CODE in again.content.decode()
    assert BackupCodeDevice.objects.get(user=technologist).remaining() == 8


def test_new_backup_codes_replace_the_old_ones_and_need_a_recent_second_factor(client, technologist):
    give_authenticator_app(technologist)
    sign_in(client, technologist.email)
    client.post(reverse("mfa:backup-codes"))
    old_hashes = set(BackupCode.objects.values_list("code_hash", flat=True))

    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    stale = client.post(reverse("mfa:backup-codes"))

    assert stale["Location"] == f"{reverse('mfa:verify')}?next=%2Faccounts%2Fsecurity%2F"
    assert set(BackupCode.objects.values_list("code_hash", flat=True)) == old_hashes

    pass_second_factor(client, totp_code(steps_ahead=1))
    client.post(reverse("mfa:backup-codes"))

    assert not set(BackupCode.objects.values_list("code_hash", flat=True)) & old_hashes
    assert events(AuditAction.MFA_ENROLLED)[-1].details["replaced"] is True


def test_removing_a_second_factor_needs_a_recent_one_and_staff_keep_at_least_one(client, technologist):
    first = give_authenticator_app(technologist)
    second = give_authenticator_app(technologist, OTHER_TOTP_KEY)
    sign_in(client, technologist.email)

    removed = client.post(reverse("mfa:remove-device", args=["totp", second.pk]))
    refused = client.post(reverse("mfa:remove-device", args=["totp", first.pk]), follow=True)

    assert removed["Location"] == reverse("mfa:security")
    assert list(TOTPDevice.objects.filter(user=technologist)) == [first]
    assert [e.details for e in events(AuditAction.MFA_REMOVED)] == [{"kind": "totp"}]
    assert "Your clinic requires a second factor" in refused.content.decode()


def test_a_user_cannot_remove_someone_elses_device(client, technologist, tenant, member_factory):
    theirs = give_authenticator_app(member_factory(tenant, Role.RADIOLOGIST))
    client.force_login(technologist)

    response = client.post(reverse("mfa:remove-device", args=["totp", theirs.pk]))

    assert response.status_code == 404
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()


def test_an_operator_resets_a_users_second_factors_their_sessions_end_and_it_is_audited(client, technologist):
    give_authenticator_app(technologist)
    users_browser = Client()
    sign_in(users_browser, technologist.email)
    users_browser.post(reverse("mfa:backup-codes"))
    operator = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(operator)

    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_second_factors", "_selected_action": [technologist.pk]},
    )

    assert response.status_code == 302
    assert not user_has_device(technologist, confirmed=None)
    reset = events(AuditAction.MFA_RESET)
    assert [(e.actor, e.actor_role, e.object_ids, e.details) for e in reset] == [
        (
            operator,
            "platform_operator",
            [str(technologist.pk)],
            {"by": "platform_admin", "removed": {"totp": 1, "backup_codes": 1}},
        )
    ]
    # The session that had passed its second factor with a device now gone ends at its next request.
    ended = users_browser.get(reverse("clinic-dashboard", args=["alpha"]))
    assert ended["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in users_browser.session
    # Signing in again leads to enrolment: the clinic requires a second factor of technologists.
    again = sign_in_with_password(users_browser, technologist)
    assert again.redirect_chain[-1][0].startswith(reverse("mfa:security"))


def test_the_user_admin_says_which_second_factors_a_user_has(client, technologist):
    give_authenticator_app(technologist)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    page = client.get(reverse("admin:accounts_user_change", args=[technologist.pk])).content.decode()

    assert "Authenticator app" in page
    assert TEST_TOTP_KEY not in page


def test_a_patient_is_not_forced_to_enrol_but_may(client, tenant, member_factory):
    patient = member_factory(tenant, Role.PATIENT)

    landed = sign_in_with_password(client, patient)

    assert landed.redirect_chain[-1][0] == reverse("my-images")
    assert "optional for you" in client.get(reverse("mfa:security")).content.decode()
    device_page = client.get(reverse("mfa:add-totp"))
    assert device_page.status_code == 200
    device = TOTPDevice.objects.get(user=patient, confirmed=False)
    client.post(reverse("mfa:add-totp"), {"code": totp_code(device.key)})

    client.post(reverse("logout"))
    # Having enrolled, the patient is asked for it like anyone else.
    assert sign_in_with_password(client, patient).redirect_chain[-1][0].startswith(reverse("mfa:verify"))


def test_a_clinic_that_requires_mfa_of_patients_gets_them_enrolled_at_their_next_sign_in(
    client, tenant, member_factory
):
    patient = member_factory(tenant, Role.PATIENT)
    SecurityPolicy.objects.filter(tenant=tenant).update(
        mfa_required_roles=[*SecurityPolicy().mfa_required_roles, Role.PATIENT.value]
    )

    landed = sign_in_with_password(client, patient)

    assert landed.redirect_chain[-1][0].startswith(reverse("mfa:security"))


def test_a_platform_operator_must_use_a_second_factor_for_the_admin(db, client):
    operator = UserFactory(is_superuser=True, is_staff=True)

    sign_in_with_password(client, operator)

    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("mfa:security"))


def test_the_second_factor_comes_before_an_expired_password_is_changed(client, tenant, technologist):
    give_authenticator_app(technologist)
    SecurityPolicy.objects.filter(tenant=tenant).update(password_max_age_days=1)
    PasswordHistory.objects.create(
        user=technologist,
        password=technologist.password,
        created_at=timezone.now() - datetime.timedelta(days=2),
    )

    landed = sign_in_with_password(client, technologist)

    assert landed.redirect_chain[-1][0].startswith(reverse("mfa:verify"))
    assert client.get(reverse("password_change"))["Location"].startswith(reverse("mfa:verify"))
    assert pass_second_factor(client, totp_code())["Location"] == "/"
    assert client.get(reverse("clinic-dashboard", args=["alpha"]))["Location"] == reverse("password_change")


def test_a_passkey_is_never_a_sign_in_of_its_own(db, client):
    # Passwordless sign-in is off: without a password sign-in first, the ceremony does not even start.
    response = client.post(reverse("otp_webauthn:credential-authentication-begin"))

    assert response.status_code == 403
    assert response.json()["code"] == "passwordless_login_disabled"
