"""Who may store: the policy's STORE_INSTANCES right in the URL's clinic, else 404; no credentials, 401."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, TokenScope
from accounts.roles import Role
from accounts.tokens import issue_token, revoke_token
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import IngestJob
from portal.tenancy import tenant_scope
from tests.dicomweb.stow import post, related_body, sample, stow_url

BODY = related_body([sample("CT_small.dcm")])


def nothing_stored(tenant) -> bool:
    with tenant_scope(tenant):
        return not IngestJob.objects.exists()


def test_without_credentials_the_answer_is_401_with_a_bearer_challenge(client, tenant):
    response = post(client, stow_url("alpha"), BODY)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert nothing_stored(tenant)


def test_a_token_of_another_clinic_gets_the_same_404_as_a_missing_clinic(client, tenant, other_tenant, token):
    other = post(client, stow_url("bravo"), BODY, token=token)
    missing = post(client, stow_url("no-such-clinic"), BODY, token=token)

    assert other.status_code == missing.status_code == 404
    assert other.content == missing.content
    assert nothing_stored(other_tenant)


def test_a_refused_store_is_audited_as_access_denied(client, tenant, other_tenant, storer, token):
    post(client, stow_url("bravo", "2.25.42"), BODY, token=token)

    event = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert (event.tenant, event.outcome, event.object_ids) == (other_tenant, Outcome.FAILURE, ["2.25.42"])
    # The token of another clinic is named, with its holder, though the request has no user.
    assert event.actor == storer
    prefix = ApiToken.objects.get(user=storer).prefix
    assert event.details == {"route": "dicomweb-stow-study", "method": "POST", "token": prefix}


def test_a_session_member_of_another_clinic_gets_404(client, other_tenant, storer):
    client.force_login(storer)

    assert post(client, stow_url("bravo"), BODY).status_code == 404
    assert nothing_stored(other_tenant)


@pytest.mark.parametrize("role", [Role.BILLING, Role.AUDITOR, Role.PATIENT, Role.REFERRING_PHYSICIAN])
def test_members_without_the_store_right_get_404(client, tenant, member_factory, role):
    user = member_factory(tenant, role)
    _, plaintext = issue_token(user, tenant)

    assert post(client, stow_url("alpha"), BODY, token=plaintext).status_code == 404
    client.force_login(user)
    assert post(client, stow_url("alpha"), BODY).status_code == 404
    assert nothing_stored(tenant)


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.TECHNOLOGIST, Role.RADIOLOGIST])
def test_storers_may_store(client, tenant, member_factory, role):
    _, plaintext = issue_token(member_factory(tenant, role), tenant)

    assert post(client, stow_url("alpha"), BODY, token=plaintext).status_code == 200


def test_an_expired_token_is_401(client, tenant, token):
    ApiToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))

    response = post(client, stow_url("alpha"), BODY, token=token)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert nothing_stored(tenant)


def test_a_revoked_token_is_401_from_the_next_request(client, tenant, token):
    assert post(client, stow_url("alpha"), BODY, token=token).status_code == 200

    revoke_token(ApiToken.objects.get())

    assert post(client, stow_url("alpha"), BODY, token=token).status_code == 401


def test_an_unknown_token_is_401(client, tenant):
    assert post(client, stow_url("alpha"), BODY, token="pal_" + "x" * 43).status_code == 401


def test_a_storer_token_without_the_write_scope_gets_403(client, tenant, storer):
    # The storer may store, so the 403 hides nothing; what they may not do at all stays a 404 (above).
    _, read_only = issue_token(storer, tenant, scopes=[TokenScope.DICOMWEB_READ])

    response = post(client, stow_url("alpha"), BODY, token=read_only)

    assert response.status_code == 403
    assert "dicomweb:write" in response["WWW-Authenticate"]
    assert nothing_stored(tenant)


def test_a_member_who_lost_the_right_cannot_use_an_old_token(client, tenant, storer, token):
    storer.memberships.update(role=Role.BILLING)

    assert post(client, stow_url("alpha"), BODY, token=token).status_code == 404


def test_a_session_post_needs_the_csrf_token(tenant, storer):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(storer)

    response = post(browser, stow_url("alpha"), BODY)

    assert response.status_code == 403
    assert nothing_stored(tenant)


def test_a_bearer_post_needs_no_csrf_token(tenant, token):
    assert post(Client(enforce_csrf_checks=True), stow_url("alpha"), BODY, token=token).status_code == 200
