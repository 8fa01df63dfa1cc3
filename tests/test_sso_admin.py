"""Clinics' identity providers in the platform admin, and their client secrets at rest."""

import pytest
from cryptography.exceptions import InvalidTag
from django.urls import reverse

from accounts.sso.client_secrets import open_client_secret, seal_client_secret
from accounts.sso.models import OidcProvider
from audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory

SECRET = "the-clinic-client-secret-0123456789"


@pytest.fixture
def operator_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _form(tenant, **fields) -> dict:
    return {
        "tenant": tenant.pk,
        "enabled": "on",
        "show_on_sign_in_page": "on",
        "issuer": "https://login.alpha.example/realms/staff",
        "client_id": "palisade",
        "client_secret": SECRET,
        "scopes": "openid email profile",
        "email_claim": "email",
        "email_domains": "alpha.example",
        "create_users": "on",
        "roles_claim": "groups",
        "role_mapping": '{"radiology": "radiologist"}',
        "default_role": "",
        "mfa_acr_values": "",
        "mfa_amr_values": "mfa otp hwk",
        **fields,
    }


def test_an_operator_adds_a_provider_whose_secret_is_sealed_and_never_shown(operator_client, tenant):
    response = operator_client.post(reverse("admin:sso_oidcprovider_add"), _form(tenant))

    assert response.status_code == 302, response.context["adminform"].form.errors
    provider = OidcProvider.objects.get()
    assert SECRET.encode() not in bytes(provider.client_secret_sealed)
    assert open_client_secret(provider) == SECRET
    change_page = operator_client.get(reverse("admin:sso_oidcprovider_change", args=[provider.pk]))
    assert SECRET not in change_page.content.decode()
    assert "/accounts/sso/alpha/callback/" in change_page.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE, object_type="sso.oidcprovider")
    assert event.tenant == tenant
    assert SECRET not in str(event.details)


def test_an_empty_secret_field_keeps_the_stored_secret(operator_client, tenant):
    operator_client.post(reverse("admin:sso_oidcprovider_add"), _form(tenant))
    provider = OidcProvider.objects.get()

    operator_client.post(
        reverse("admin:sso_oidcprovider_change", args=[provider.pk]), _form(tenant, client_secret="")
    )

    provider.refresh_from_db()
    assert open_client_secret(provider) == SECRET


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"issuer": "http://login.alpha.example/"}, "issuer"),
        ({"role_mapping": '{"radiology": "chief"}'}, "role_mapping"),
        ({"email_domains": ""}, "email_domains"),
        ({"mfa_delegated": "on", "mfa_amr_values": ""}, "mfa_delegated"),
    ],
    ids=["plain-http-issuer", "unknown-role", "no-domain", "delegated-mfa-without-values"],
)
def test_a_provider_that_would_be_unsafe_is_refused(operator_client, tenant, fields, field):
    response = operator_client.post(reverse("admin:sso_oidcprovider_add"), _form(tenant, **fields))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not OidcProvider.objects.exists()


def test_a_sealed_secret_moved_to_another_clinic_does_not_open(tenant, other_tenant):
    sealed = OidcProvider(tenant=tenant)
    seal_client_secret(sealed, SECRET)

    moved = OidcProvider(tenant=other_tenant, client_secret_sealed=sealed.client_secret_sealed)

    with pytest.raises(InvalidTag):
        open_client_secret(moved)


def test_clinic_staff_cannot_reach_the_providers_in_the_admin(client, tenant, member_factory):
    client.force_login(member_factory(tenant, "tenant_admin"))

    response = client.get(reverse("admin:sso_oidcprovider_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
