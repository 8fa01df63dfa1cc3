"""Single sign-on with a clinic's OpenID Connect provider, against a real provider on loopback
(django-oauth-toolkit in a second process: tests/oidc.py)."""

from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from accounts.lockout import sign_in_name_digest
from accounts.models import Membership, SecurityPolicy, User, UserSession
from accounts.roles import Role
from accounts.sso.models import OidcIdentity
from accounts.sso.sessions import MFA_BY_PROVIDER_SESSION_KEY
from audit.models import AuditAction, AuditEvent, Outcome
from tests.factories import AGREEMENT_SIGNER_EMAIL, MembershipFactory, UserFactory
from tests.mfa import give_authenticator_app
from tests.oidc import IDP_PASSWORD, follow_at_provider, running_identity_provider, sign_in_with_sso

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory):
    """One real provider for the module's tests; each test adds the people it needs."""
    with running_identity_provider(tmp_path_factory.mktemp("idp")) as provider:
        yield provider


def _staff_mfa_not_required(tenant) -> None:
    SecurityPolicy.objects.filter(tenant=tenant).update(mfa_required_roles=[])


def _radiologist(idp, email="ann@alpha.example", forge=None, **claims) -> str:
    """A person at the provider whose groups map to radiologist, unless the claims say otherwise."""
    return idp.add_person(
        forge=forge,
        **{"sub": email, "email_verified": True, "groups": ["radiology"], **claims, "email": email},
    )


def _provider_answer(idp, authorization_url: str, person: str) -> str:
    """Palisade's callback path and query the provider sends the browser back to."""
    back = urlsplit(follow_at_provider(requests.Session(), authorization_url, person, IDP_PASSWORD))
    return f"{back.path}?{back.query}"


def _refusals():
    return AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED)


def test_sign_in_through_the_clinics_provider_lands_in_the_clinic_with_the_mapped_role(
    client, tenant, identity_provider
):
    identity_provider.configure(tenant)
    _staff_mfa_not_required(tenant)
    person = _radiologist(identity_provider)
    client.get(reverse("login"))
    key_before = client.session.session_key

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 302
    assert response["Location"] == reverse("clinic-dashboard", args=["alpha"])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'data-testid="dashboard-role">Radiologist<' in page.content.decode()
    user = User.objects.get(email="ann@alpha.example")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user).role == Role.RADIOLOGIST
    assert client.session.session_key != key_before
    assert UserSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    event = AuditEvent.objects.get(action=AuditAction.SIGN_IN, actor=user)
    assert event.tenant == tenant
    assert event.details == {"method": "oidc", "issuer": identity_provider.issuer, "role": "radiologist"}


def test_the_sign_in_page_offers_each_clinics_single_sign_on(client, tenant, other_tenant, identity_provider):
    identity_provider.configure(tenant)
    identity_provider.configure(other_tenant, show_on_sign_in_page=False)

    page = client.get(reverse("login")).content.decode()

    assert "Sign in with Alpha Imaging SSO" in page
    assert reverse("sso-start", args=["alpha"]) in page
    assert "Bravo" not in page


def test_an_existing_account_is_linked_by_its_verified_email_and_keeps_other_clinics(
    client, tenant, other_tenant, identity_provider
):
    identity_provider.configure(tenant)
    _staff_mfa_not_required(tenant)
    SecurityPolicy.objects.filter(tenant=other_tenant).update(mfa_required_roles=[])
    user = MembershipFactory(
        tenant=other_tenant, role=Role.TECHNOLOGIST, user=UserFactory(email="ann@alpha.example")
    ).user
    person = _radiologist(identity_provider, email="Ann@Alpha.example", groups=["clinic-admins", "radiology"])

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 302
    assert OidcIdentity.objects.get(user=user).subject == "Ann@Alpha.example"
    # The first role in Role's order of those the groups map to.
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.TENANT_ADMIN
    assert Membership.objects.get(user=user, tenant=other_tenant).role == Role.TECHNOLOGIST


def test_a_person_whose_groups_map_to_no_role_is_refused_and_audited(client, tenant, identity_provider):
    identity_provider.configure(tenant)
    person = _radiologist(identity_provider, groups=["cafeteria"])

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 403
    assert "has no role in Palisade" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email="ann@alpha.example").exists()
    event = _refusals().get()
    assert event.outcome == Outcome.FAILURE
    assert event.tenant == tenant
    assert event.details == {
        "method": "oidc",
        "issuer": identity_provider.issuer,
        "reason": "no_role",
        "attempted_name_hmac": sign_in_name_digest("ann@alpha.example"),
    }


def test_the_default_role_applies_when_no_group_matches(client, tenant, identity_provider):
    identity_provider.configure(tenant, default_role=Role.PATIENT)
    person = _radiologist(identity_provider, groups=[])

    assert sign_in_with_sso(client, "alpha", person).status_code == 302
    assert Membership.objects.get(user__email="ann@alpha.example").role == Role.PATIENT


def test_an_unverified_email_is_refused(client, tenant, identity_provider):
    identity_provider.configure(tenant)
    person = _radiologist(identity_provider, email_verified=False)

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 403
    assert _refusals().get().details["reason"] == "email_not_verified"
    assert not User.objects.exclude(email=AGREEMENT_SIGNER_EMAIL).exists()  # the clinic's signer aside


def test_without_account_creation_only_existing_accounts_sign_in(client, tenant, identity_provider):
    identity_provider.configure(tenant, create_users=False)
    person = _radiologist(identity_provider)

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 403
    assert _refusals().get().details["reason"] == "no_account"


def test_a_platform_operator_is_never_signed_in_by_a_clinics_provider(client, tenant, identity_provider):
    identity_provider.configure(tenant)
    User.objects.create_superuser("root@alpha.example", "a long operator password")
    person = _radiologist(identity_provider, email="root@alpha.example")

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 403
    assert _refusals().get().details["reason"] == "platform_operator"
    assert not Membership.objects.exists()


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        ({"sign_with_other_key": True}, "signed with a key that is not the provider's"),
        ({"tamper": True, "claims": {"groups": ["clinic-admins"]}}, "claims changed after signing"),
        ({"expires_in": -600}, "expired ten minutes ago"),
        ({"claims": {"aud": "palisade-bravo"}}, "issued to another client"),
        ({"claims": {"aud": ["someone-else"], "azp": "palisade-alpha"}}, "audience without our client"),
        ({"claims": {"iss": "http://127.0.0.1:1/o"}}, "from another issuer"),
        ({"claims": {"nonce": "replayed"}}, "with another sign-in's nonce"),
    ],
    ids=["forged", "tampered", "expired", "wrong-audience", "azp-only", "wrong-issuer", "wrong-nonce"],
)
def test_a_bad_id_token_from_the_token_endpoint_is_refused(client, tenant, identity_provider, forge, why):
    identity_provider.configure(tenant)
    _staff_mfa_not_required(tenant)
    person = _radiologist(identity_provider, forge=forge)

    response = sign_in_with_sso(client, "alpha", person)

    assert response.status_code == 403, why
    assert "_auth_user_id" not in client.session
    assert not User.objects.exclude(email=AGREEMENT_SIGNER_EMAIL).exists()  # the clinic's signer aside
    assert _refusals().get().details["reason"] == "invalid_id_token"


def test_delegated_mfa_shown_by_amr_needs_no_palisade_second_factor(client, tenant, identity_provider):
    identity_provider.configure(tenant, mfa_delegated=True)
    person = _radiologist(identity_provider, amr=["pwd", "otp"])

    sign_in_with_sso(client, "alpha", person)
    page = client.get(reverse("clinic-dashboard", args=["alpha"]))

    assert page.status_code == 200
    assert client.session[MFA_BY_PROVIDER_SESSION_KEY]["amr"] == ["pwd", "otp"]
    user = User.objects.get(email="ann@alpha.example")
    assert (
        AuditEvent.objects.get(action=AuditAction.SIGN_IN, actor=user).details["mfa"] == "identity_provider"
    )
    assert AuditEvent.objects.filter(action=AuditAction.MFA_VERIFIED, actor=user).exists()


def test_delegated_mfa_accepts_a_configured_acr(client, tenant, identity_provider):
    identity_provider.configure(
        tenant, mfa_delegated=True, mfa_acr_values="urn:clinic:loa:mfa", mfa_amr_values=""
    )
    person = _radiologist(identity_provider, acr="urn:clinic:loa:mfa", amr=["pwd"])

    sign_in_with_sso(client, "alpha", person)

    assert client.get(reverse("clinic-dashboard", args=["alpha"])).status_code == 200


def test_delegated_mfa_not_shown_by_the_token_asks_for_palisades_second_factor(
    client, tenant, identity_provider
):
    identity_provider.configure(tenant, mfa_delegated=True)
    user = UserFactory(email="ann@alpha.example")
    give_authenticator_app(user)
    person = _radiologist(identity_provider, amr=["pwd"])

    sign_in_with_sso(client, "alpha", person)
    page = client.get(reverse("clinic-dashboard", args=["alpha"]))

    assert page.status_code == 302
    assert page["Location"].startswith(reverse("mfa:verify"))
    assert MFA_BY_PROVIDER_SESSION_KEY not in client.session


def test_mfa_at_the_provider_counts_only_when_the_clinic_delegates_it(client, tenant, identity_provider):
    identity_provider.configure(tenant, mfa_delegated=False)
    person = _radiologist(identity_provider, amr=["pwd", "mfa"])

    sign_in_with_sso(client, "alpha", person)
    page = client.get(reverse("clinic-dashboard", args=["alpha"]))

    # No second factor yet, and the clinic requires one of radiologists: set one up first.
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("mfa:security"))


def test_delegated_mfa_does_not_cover_another_clinic_that_requires_palisades(
    client, tenant, other_tenant, identity_provider
):
    identity_provider.configure(tenant, mfa_delegated=True)
    user = MembershipFactory(
        tenant=other_tenant, role=Role.RADIOLOGIST, user=UserFactory(email="ann@alpha.example")
    ).user
    give_authenticator_app(user)
    person = _radiologist(identity_provider, amr=["mfa"])

    sign_in_with_sso(client, "alpha", person)

    assert MFA_BY_PROVIDER_SESSION_KEY not in client.session
    assert client.get(reverse("clinic-dashboard", args=["alpha"]))["Location"].startswith(
        reverse("mfa:verify")
    )


def test_another_clinics_provider_cannot_sign_in_a_member_of_this_clinic(
    client, tenant, other_tenant, identity_provider
):
    identity_provider.configure(other_tenant)
    member = MembershipFactory(
        tenant=tenant, role=Role.TENANT_ADMIN, user=UserFactory(email="ann@alpha.example")
    ).user
    # Bravo's provider vouches for an address of Alpha's domain, with a group Bravo maps to an admin.
    person = _radiologist(identity_provider, groups=["clinic-admins"])

    response = sign_in_with_sso(client, "bravo", person)

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert _refusals().get().details["reason"] == "email_domain_not_allowed"
    assert list(Membership.objects.filter(user=member).values_list("tenant__slug", "role")) == [
        ("alpha", Role.TENANT_ADMIN)
    ]
    assert not OidcIdentity.objects.exists()


def test_a_sign_in_started_for_one_clinic_cannot_finish_at_another(
    client, tenant, other_tenant, identity_provider
):
    identity_provider.configure(tenant)
    identity_provider.configure(other_tenant)
    _staff_mfa_not_required(other_tenant)
    person = _radiologist(identity_provider)

    response = sign_in_with_sso(client, "alpha", person, callback_slug="bravo")

    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert _refusals().get().details["reason"] == "state_mismatch"


@pytest.mark.parametrize("setup", ["no-provider", "disabled", "inactive-clinic"])
def test_single_sign_on_of_a_clinic_without_it_is_404(client, tenant, identity_provider, setup):
    if setup == "disabled":
        identity_provider.configure(tenant, enabled=False)
    if setup == "inactive-clinic":
        identity_provider.configure(tenant)
        tenant.is_active = False
        tenant.save()

    assert client.get(reverse("sso-start", args=["alpha"])).status_code == 404
    assert client.get(reverse("sso-callback", args=["alpha"]) + "?code=x&state=y").status_code == 404


def test_a_callback_replayed_after_the_sign_in_is_refused(client, tenant, identity_provider):
    identity_provider.configure(tenant)
    _staff_mfa_not_required(tenant)
    start = client.get(reverse("sso-start", args=["alpha"]))
    back = _provider_answer(identity_provider, start["Location"], _radiologist(identity_provider))
    assert client.get(back).status_code == 302
    client.logout()

    replayed = client.get(back)

    assert replayed.status_code == 403
    assert _refusals().get().details["reason"] == "state_mismatch"


def test_a_person_who_declines_at_the_provider_is_refused_without_a_crash(client, tenant, identity_provider):
    identity_provider.configure(tenant)
    client.get(reverse("sso-start", args=["alpha"]))

    response = client.get(reverse("sso-callback", args=["alpha"]) + "?error=access_denied&state=whatever")

    assert response.status_code == 403
    assert _refusals().get().details["reason"] == "authorization_failed"


def test_an_unreachable_provider_gives_a_clear_page_not_a_crash(client, tenant, identity_provider):
    identity_provider.configure(tenant, issuer="http://127.0.0.1:9/o")

    response = client.get(reverse("sso-start", args=["alpha"]))

    assert response.status_code == 502
    assert "cannot be reached" in response.content.decode()
    assert _refusals().get().details["reason"] == "discovery_failed"
