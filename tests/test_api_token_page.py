"""The API tokens page: make a token (shown once, kept hashed), use it as a bearer on the REST API and
DICOMweb, see when and from where it was last used, revoke it; clinic admins and operators revoke too."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent
from tests.dicomweb.stow import post, related_body, sample, stow_url
from tests.factories import StudyFactory

TOKEN = re.compile(r"pal_[A-Za-z0-9_-]{43}")
ADDRESS = "203.0.113.7"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def rest(client, token: str, slug: str = "alpha"):
    return client.get(reverse("api-studies", args=[slug]), headers=bearer(token), REMOTE_ADDR=ADDRESS)


def qido(client, token: str, slug: str = "alpha"):
    return client.get(reverse("dicomweb-stow", args=[slug]), headers=bearer(token), REMOTE_ADDR=ADDRESS)


def make_token(client, tenant, *, scopes=("api:read", "dicomweb:read"), days=30, name="nightly export"):
    return client.post(
        reverse("api-token-create"),
        {"name": name, "tenant": str(tenant.pk), "scopes": list(scopes), "expires_in_days": days},
    )


def token_in(response) -> str:
    (plaintext,) = TOKEN.findall(response.content.decode())
    return plaintext


@pytest.fixture
def radiologist(client, tenant, member_factory) -> User:
    user = member_factory(tenant, Role.RADIOLOGIST)
    client.force_login(user)
    return user


@pytest.fixture
def plaintext(client, tenant, radiologist) -> str:
    return token_in(make_token(client, tenant))


def test_the_page_shows_the_token_once_and_keeps_only_its_hash(client, tenant, radiologist):
    created = make_token(client, tenant)

    plaintext = token_in(created)
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    listing = client.get(reverse("api-tokens"))
    assert listing.status_code == 200
    assert plaintext not in listing.content.decode()
    token = ApiToken.objects.get()
    assert token.prefix in listing.content.decode()
    assert (token.user, token.tenant, token.created_by, token.name) == (
        radiologist,
        tenant,
        radiologist,
        "nightly export",
    )
    assert token.scopes == ["api:read", "dicomweb:read"]
    assert datetime.timedelta(days=29) < token.expires_at - timezone.now() <= datetime.timedelta(days=30)
    assert not any(plaintext in str(value) for value in ApiToken.objects.values().get().values())


def test_a_page_token_works_as_a_bearer_on_the_rest_api_and_dicomweb(client, tenant, plaintext):
    StudyFactory(tenant=tenant, description="ALPHA STUDY")
    anonymous = Client()

    api = rest(anonymous, plaintext)
    dicomweb = qido(anonymous, plaintext)

    assert api.status_code == 200
    assert [row["description"] for row in api.json()["results"]] == ["ALPHA STUDY"]
    assert dicomweb.status_code == 200
    assert len(dicomweb.json()) == 1


def test_the_last_use_is_recorded_with_its_address_at_most_once_a_minute(client, tenant, plaintext):
    assert rest(Client(), plaintext).status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_address == ADDRESS
    assert timezone.now() - token.last_used_at < datetime.timedelta(seconds=10)
    half_a_minute_ago = timezone.now() - datetime.timedelta(seconds=30)
    ApiToken.objects.update(last_used_at=half_a_minute_ago)

    Client().get(reverse("api-me"), headers=bearer(plaintext), REMOTE_ADDR="198.51.100.1")

    assert ApiToken.objects.get().last_used_at == half_a_minute_ago
    ApiToken.objects.update(last_used_at=timezone.now() - datetime.timedelta(minutes=2))
    Client().get(reverse("api-me"), headers=bearer(plaintext), REMOTE_ADDR="198.51.100.1")
    assert ApiToken.objects.get().last_used_address == "198.51.100.1"
    listing = client.get(reverse("api-tokens")).content.decode()
    assert "198.51.100.1" in listing


def test_a_revoked_token_gets_401_on_the_rest_api_and_dicomweb(client, tenant, plaintext):
    token = ApiToken.objects.get()
    assert rest(Client(), plaintext).status_code == 200

    response = client.post(reverse("api-token-revoke", args=[token.pk]))

    assert response.status_code == 302
    for answer in (rest(Client(), plaintext), qido(Client(), plaintext)):
        assert answer.status_code == 401
        assert answer["WWW-Authenticate"] == 'Bearer realm="palisade", error="invalid_token"'
    assert 'data-state="revoked"' in client.get(reverse("api-tokens")).content.decode()


def test_an_expired_token_gets_401_on_the_rest_api_and_dicomweb(client, tenant, plaintext):
    ApiToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    for answer in (rest(Client(), plaintext), qido(Client(), plaintext)):
        assert answer.status_code == 401
        assert answer["WWW-Authenticate"] == 'Bearer realm="palisade", error="invalid_token"'
    assert 'data-state="expired"' in client.get(reverse("api-tokens")).content.decode()


def test_a_read_token_cannot_store_and_is_told_which_scope_is_missing(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))
    plaintext = token_in(make_token(client, tenant, scopes=["dicomweb:read"]))

    response = post(Client(), stow_url("alpha"), related_body([sample("CT_small.dcm")]), token=plaintext)

    assert response.status_code == 403
    assert "dicomweb:write" in response.json()["detail"]
    assert response["WWW-Authenticate"] == (
        'Bearer realm="palisade", error="insufficient_scope", scope="dicomweb:write"'
    )
    refusal = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert refusal.details["missing_scope"] == "dicomweb:write"


def test_a_write_token_of_a_technologist_stores(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.TECHNOLOGIST))
    plaintext = token_in(make_token(client, tenant, scopes=["dicomweb:write"]))

    response = post(Client(), stow_url("alpha"), related_body([sample("CT_small.dcm")]), token=plaintext)

    assert response.status_code == 200


def test_a_token_of_clinic_a_is_404_on_clinic_b_for_a_member_of_both(
    client, tenant, other_tenant, member_factory
):
    user = member_factory(tenant, Role.RADIOLOGIST)
    member_factory(other_tenant, Role.RADIOLOGIST, user=user)
    client.force_login(user)
    plaintext = token_in(make_token(client, tenant))

    assert rest(Client(), plaintext, slug="bravo").status_code == 404
    assert qido(Client(), plaintext, slug="bravo").status_code == 404


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        (Role.BILLING, {"api:read", "dicomweb:read"}),
        (Role.TECHNOLOGIST, {"api:read", "api:write", "dicomweb:read", "dicomweb:write"}),
        (Role.TENANT_ADMIN, {"api:read", "api:write", "dicomweb:read", "dicomweb:write", "admin"}),
    ],
)
def test_the_form_offers_only_the_scopes_the_role_allows(client, tenant, member_factory, role, offered):
    client.force_login(member_factory(tenant, role))

    page = client.get(reverse("api-tokens")).content.decode()

    assert set(re.findall(r'name="scopes" value="([^"]+)"', page)) == offered


def test_a_scope_beyond_the_role_in_the_chosen_clinic_is_refused(
    client, tenant, other_tenant, member_factory
):
    user = member_factory(tenant, Role.TENANT_ADMIN)
    member_factory(other_tenant, Role.BILLING, user=user)
    client.force_login(user)

    response = make_token(client, other_tenant, scopes=["dicomweb:write", "admin"])

    assert response.status_code == 200
    assert "As Billing at Bravo Radiology you may not give a token" in response.content.decode()
    assert not TOKEN.search(response.content.decode())
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("days", "tenant_field", "error"),
    [
        (366, None, "less than or equal to 365"),
        (0, None, "greater than or equal to 1"),
        (30, "9999", "Select a valid choice"),
    ],
)
def test_bad_lifetimes_and_clinics_are_refused(client, tenant, radiologist, days, tenant_field, error):
    data = {"name": "x", "tenant": tenant_field or str(tenant.pk), "scopes": ["api:read"]}

    response = client.post(reverse("api-token-create"), {**data, "expires_in_days": days})

    assert error in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_clinic_the_user_does_not_belong_to_is_not_offered(client, tenant, other_tenant, radiologist):
    page = client.get(reverse("api-tokens")).content.decode()

    assert "Alpha Imaging" in page and "Bravo Radiology" not in page
    assert make_token(client, other_tenant).status_code == 200
    assert not ApiToken.objects.exists()


def test_users_see_and_revoke_only_their_own_tokens(client, tenant, plaintext, member_factory):
    token = ApiToken.objects.get()
    colleague = member_factory(tenant, Role.TENANT_ADMIN)
    other = Client()
    other.force_login(colleague)

    assert token.prefix not in other.get(reverse("api-tokens")).content.decode()
    assert other.post(reverse("api-token-revoke", args=[token.pk])).status_code == 404
    assert rest(Client(), plaintext).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED).exists()


def test_revoking_needs_a_post_with_the_csrf_token(tenant, radiologist):
    token, _ = issue_token(radiologist, tenant)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(radiologist)

    assert browser.get(reverse("api-token-revoke", args=[token.pk])).status_code == 405
    assert browser.post(reverse("api-token-revoke", args=[token.pk])).status_code == 403
    assert ApiToken.objects.get().revoked_at is None


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("api-tokens"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_making_and_revoking_are_audited_without_the_token(client, tenant, radiologist):
    plaintext = token_in(make_token(client, tenant))
    token = ApiToken.objects.get()
    client.post(reverse("api-token-revoke", args=[token.pk]))
    client.post(reverse("api-token-revoke", args=[token.pk]))  # already revoked: nothing more

    issued = AuditEvent.objects.get(action=AuditAction.API_TOKEN_ISSUED)
    revoked = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
    assert (issued.actor, issued.tenant, issued.actor_role) == (radiologist, tenant, Role.RADIOLOGIST)
    assert issued.details["by"] == "self" and issued.details["scopes"] == ["api:read", "dicomweb:read"]
    assert (revoked.actor, revoked.tenant, revoked.object_ids) == (radiologist, tenant, [str(token.pk)])
    assert revoked.details == {"by": "self", "user": str(radiologist.pk)}
    for event in AuditEvent.objects.all():
        assert plaintext not in str(event.details) and token.token_hash not in str(event.details)


def test_a_clinic_admin_sees_and_revokes_the_clinic_tokens(client, tenant, other_tenant, member_factory):
    member = member_factory(tenant, Role.TECHNOLOGIST)
    token, plaintext = issue_token(member, tenant)
    outsider_token, _ = issue_token(member_factory(other_tenant, Role.RADIOLOGIST), other_tenant)
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    client.force_login(admin)

    page = client.get(reverse("clinic-api-tokens", args=[tenant.slug])).content.decode()
    response = client.post(reverse("clinic-api-token-revoke", args=[tenant.slug, token.pk]))

    assert member.email in page and token.prefix in page and outsider_token.prefix not in page
    assert response.status_code == 302
    assert rest(Client(), plaintext).status_code == 401
    event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
    assert (event.actor, event.actor_role, event.details["by"]) == (admin, Role.TENANT_ADMIN, "clinic_admin")
    elsewhere = reverse("clinic-api-token-revoke", args=[tenant.slug, outsider_token.pk])
    assert client.post(elsewhere).status_code == 404
    assert ApiToken.objects.get(pk=outsider_token.pk).revoked_at is None


def test_the_clinic_tokens_page_is_404_to_other_roles(client, tenant, member_factory):
    token, _ = issue_token(member_factory(tenant, Role.TECHNOLOGIST), tenant)
    client.force_login(member_factory(tenant, Role.RADIOLOGIST))

    assert client.get(reverse("clinic-api-tokens", args=[tenant.slug])).status_code == 404
    assert client.post(reverse("clinic-api-token-revoke", args=[tenant.slug, token.pk])).status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_a_platform_operator_revokes_in_the_admin_and_changes_nothing_else(client, tenant, member_factory):
    token, plaintext = issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)
    operator = User.objects.create_superuser("operator@example.org", "x-long-password-1")
    client.force_login(operator)
    changelist = reverse("admin:accounts_apitoken_changelist")

    response = client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})

    assert response.status_code == 302
    assert rest(Client(), plaintext).status_code == 401
    event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_REVOKED)
    assert (event.actor, event.actor_role, event.details["by"]) == (
        operator,
        "platform_operator",
        "platform_admin",
    )
    change = client.post(reverse("admin:accounts_apitoken_change", args=[token.pk]), {"name": "renamed"})
    assert change.status_code in {403, 200}
    assert ApiToken.objects.get().name == ""
    assert client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk])).status_code == 403
    assert ApiToken.objects.exists()
