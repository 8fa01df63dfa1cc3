"""API tokens: issued by create_api_token, stored hashed, one clinic, some scopes, an end date."""

import datetime
import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts import policy
from accounts.models import ApiToken, Membership, TokenScope
from accounts.roles import Role
from accounts.tokens import authenticate_token, issue_token
from audit.models import AuditAction, AuditEvent
from tests.factories import StudyFactory


def create_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().rstrip("\n").splitlines()[-1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_command_prints_the_token_alone_on_the_last_line(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)

    plaintext = create_token(user.email, tenant.slug)

    assert plaintext.startswith("pal_") and " " not in plaintext
    token = ApiToken.objects.get()
    assert (token.user, token.tenant) == (user, tenant)
    # Every scope a radiologist's role allows (accounts.policy.grantable_token_scopes): not `admin`.
    assert token.scopes == ["api:read", "api:write", "dicomweb:read", "dicomweb:write"]
    assert token.expires_at - timezone.now() > datetime.timedelta(days=89)
    assert token.created_by is None


def test_a_token_carries_at_least_256_bits_and_only_its_hash_is_kept(tenant, member_factory):
    token, plaintext = issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)

    assert len(plaintext) - len("pal_") >= 43  # 32 bytes in URL-safe base64
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {token.prefix, token.token_hash, token.name}
    assert plaintext.startswith(token.prefix)


def test_scopes_and_lifetime_are_chosen_on_the_command_line(tenant, member_factory):
    user = member_factory(tenant, Role.TECHNOLOGIST)

    create_token(user.email, tenant.slug, "--scope", "dicomweb:write", "--expires-in", "7")

    token = ApiToken.objects.get()
    assert token.scopes == ["dicomweb:write"]
    assert datetime.timedelta(days=6) < token.expires_at - timezone.now() <= datetime.timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["nobody@example.org", "alpha"], "No user with e-mail"),
        (["{member}", "no-such-clinic"], "No tenant with slug"),
        (["{outsider}", "alpha"], "is not a member of alpha"),
        (["{member}", "alpha", "--expires-in", "0"], "at least one day"),
        (["{member}", "alpha", "--expires-in", "366"], "at most 365 days"),
        (["{member}", "alpha", "--scope", "admin"], "may not give a token the scope admin"),
    ],
)
def test_the_command_fails_with_a_one_line_reason(tenant, other_tenant, member_factory, args, reason):
    names = {
        "{member}": member_factory(tenant, Role.RADIOLOGIST).email,
        "{outsider}": member_factory(other_tenant, Role.RADIOLOGIST).email,
    }

    with pytest.raises(CommandError, match=reason) as failure:
        create_token(*[names.get(arg, arg) for arg in args])

    assert "\n" not in str(failure.value)
    assert not ApiToken.objects.exists()


def test_issuing_a_token_is_audited_without_the_token(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)

    plaintext = create_token(user.email, tenant.slug)

    event = AuditEvent.objects.get(action=AuditAction.API_TOKEN_ISSUED)
    assert (event.actor, event.tenant) == (user, tenant)
    assert plaintext not in str(event.details)


def test_the_rest_api_accepts_a_bearer_token(client, tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    StudyFactory(tenant=tenant, description="ALPHA STUDY")
    plaintext = create_token(user.email, tenant.slug)

    response = client.get(reverse("api-studies", args=[tenant.slug]), headers=bearer(plaintext))

    assert response.status_code == 200
    assert [row["description"] for row in response.json()["results"]] == ["ALPHA STUDY"]
    assert ApiToken.objects.get().last_used_at is not None


def test_a_token_of_clinic_a_is_404_on_clinic_b_routes_even_for_a_member_of_both(
    client, tenant, other_tenant, member_factory
):
    user = member_factory(tenant, Role.RADIOLOGIST)
    member_factory(other_tenant, Role.RADIOLOGIST, user=user)
    _, plaintext = issue_token(user, tenant)

    response = client.get(reverse("api-studies", args=[other_tenant.slug]), headers=bearer(plaintext))

    assert response.status_code == 404


def test_a_token_without_the_api_scope_is_403_on_the_rest_api_naming_the_scope(
    client, tenant, member_factory
):
    _, plaintext = issue_token(
        member_factory(tenant, Role.RADIOLOGIST), tenant, scopes=[TokenScope.DICOMWEB_WRITE]
    )

    response = client.get(reverse("api-studies", args=[tenant.slug]), headers=bearer(plaintext))

    assert response.status_code == 403
    assert "'api:read'" in response.json()["detail"]
    assert response["WWW-Authenticate"] == (
        'Bearer realm="palisade", error="insufficient_scope", scope="api:read"'
    )


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer pal_wrong", "Bearer \xe9"])
def test_a_malformed_or_unknown_bearer_header_is_401(client, tenant, header):
    response = client.get(reverse("api-me"), headers={"Authorization": header})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error=" in response["WWW-Authenticate"]


def test_no_credentials_get_a_challenge_without_an_error_code(client, db):
    response = client.get(reverse("api-me"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="palisade"'
    # Every refusal is in the trail (audit/middleware.py), this one too.
    assert AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED, details__route="api-me").count() == 1


def test_a_disabled_user_token_stops_working(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    _, plaintext = issue_token(user, tenant)
    user.is_active = False
    user.save()

    assert authenticate_token(plaintext) is None


def test_a_token_stops_working_when_its_membership_ends(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    _, plaintext = issue_token(user, tenant)
    user.memberships.all().delete()

    assert authenticate_token(plaintext) is None


def test_the_token_its_holder_and_their_membership_come_in_one_query(
    tenant, other_tenant, member_factory, django_assert_num_queries
):
    user = member_factory(tenant, Role.RADIOLOGIST)
    Membership.objects.create(user=user, tenant=other_tenant, role=Role.TECHNOLOGIST)
    _, plaintext = issue_token(user, tenant)
    authenticate_token(plaintext)  # records the first use; later uses within a minute write nothing

    with django_assert_num_queries(1):
        token = authenticate_token(plaintext)
        # The policy's answer for the token's clinic is the row read with the token: no second query.
        member = policy.membership(token.user, tenant)

    assert (member.role, member.tenant) == (Role.RADIOLOGIST, tenant)


def test_a_membership_changed_after_a_request_applies_to_the_next_one(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    _, plaintext = issue_token(user, tenant)
    first = authenticate_token(plaintext)
    Membership.objects.filter(user=user, tenant=tenant).update(role=Role.TENANT_ADMIN)

    second = authenticate_token(plaintext)

    assert policy.membership(first.user, tenant).role == Role.RADIOLOGIST
    assert policy.membership(second.user, tenant).role == Role.TENANT_ADMIN
