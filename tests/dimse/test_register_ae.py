"""`register_ae <tenant> <AE title> [--host H] [--port P] [--tls-subject S]` and the admin page."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from imaging.models import RemoteAE
from portal.tenancy import tenant_scope
from tests.factories import UserFactory


def register(*args: str) -> str:
    out = io.StringIO()
    call_command("register_ae", *args, stdout=out)
    return out.getvalue()


def test_registering_an_ae_with_its_pins_reports_the_called_ae_title(tenant):
    output = register(
        "alpha", "CT1", "--host", "10.0.0.5", "--port", "104", "--tls-subject", "CN=ct-1,O=Alpha Imaging"
    )

    assert "Registered CT1 for alpha (called AE title ALPHA)" in output
    with tenant_scope(tenant):
        ae = RemoteAE.objects.get()
    assert (ae.host, ae.port, ae.tls_subject, ae.may_store) == (
        "10.0.0.5",
        104,
        "CN=ct-1,O=Alpha Imaging",
        True,
    )
    assert AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE, object_type="imaging.remoteae").exists()


def test_an_ae_may_be_registered_for_echo_and_retrieve_only(tenant):
    register("alpha", "VIEWER", "--no-store")

    with tenant_scope(tenant):
        assert RemoteAE.objects.get().may_store is False


def test_the_same_ae_title_may_serve_two_clinics(tenant, other_tenant):
    register("alpha", "PACS")
    register("bravo", "PACS")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["nowhere", "CT1"], "No tenant with slug 'nowhere'."),
        (["alpha", "A" * 17], "ae_title:"),
        (["alpha", "   "], "ae_title: An AE title cannot be only spaces"),
        (["alpha", "CT1", "--host", "ct1.example.org"], "host: Enter a valid IPv4 or IPv6 address."),
        (["alpha", "CT1", "--port", "70000"], "port:"),
        (["alpha", "CT1", "--tls-subject", "ct-1 at Alpha"], "tls_subject: A TLS subject is an RFC 4514"),
    ],
)
def test_bad_registrations_fail_with_one_line_naming_the_field(tenant, args, reason):
    with pytest.raises(CommandError) as failure:
        register(*args)

    assert str(failure.value).startswith(reason)
    assert "\n" not in str(failure.value)


def test_an_ae_title_registered_twice_for_a_clinic_fails(tenant):
    register("alpha", "CT1")

    with pytest.raises(CommandError, match=r"^This AE title is already registered for the clinic\.$"):
        register("alpha", "CT1")


def test_an_operator_registers_an_ae_in_the_admin_and_the_change_is_audited(client, tenant):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    response = client.post(
        reverse("admin:imaging_remoteae_add"),
        {
            "tenant": tenant.pk,
            "ae_title": "MR2",
            "host": "10.0.0.7",
            "tls_subject": "",
            "may_store": "on",
            "is_active": "on",
            "description": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_scope(tenant):
        assert RemoteAE.objects.get().ae_title == "MR2"
    assert AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE, object_type="imaging.remoteae").exists()


def test_an_ae_may_be_allowed_to_query_and_retrieve(tenant):
    register("alpha", "PACS", "--query", "--retrieve", "--host", "10.0.0.9", "--port", "11112")
    register("alpha", "CT2")

    with tenant_scope(tenant):
        pacs, modality = RemoteAE.objects.get(ae_title="PACS"), RemoteAE.objects.get(ae_title="CT2")
    assert (pacs.may_query, pacs.may_retrieve) == (True, True)
    # A modality sends; reading the clinic's studies is granted, never assumed.
    assert (modality.may_query, modality.may_retrieve) == (False, False)
    event = AuditEvent.objects.filter(action=AuditAction.ADMIN_CHANGE, object_ids=[str(pacs.pk)]).get()
    assert {"may_query", "may_retrieve"} <= set(event.details["fields"])
