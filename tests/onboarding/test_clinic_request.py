"""The public request page: a clinic asks to join (portal.onboarding)."""

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from portal.onboarding import services
from portal.onboarding.models import ClinicRequest

pytestmark = pytest.mark.django_db


def request_data(**overrides) -> dict:
    return {
        "clinic_name": "Charlie Imaging",
        "country": "DE",
        "slug": "charlie",
        "contact_name": "Dana Admin",
        "contact_email": "dana@charlie.example",
        "privacy_contact_name": "Pat Privacy",
        "privacy_contact_email": "privacy@charlie.example",
        **overrides,
    }


def test_a_visitor_requests_an_account_and_the_request_is_recorded_and_audited(client):
    response = client.post(reverse("clinic-request"), request_data())

    assert response.status_code == 302
    assert response["Location"] == reverse("clinic-request-thanks")
    clinic_request = ClinicRequest.objects.get()
    assert (clinic_request.slug, clinic_request.country, clinic_request.jurisdiction) == (
        "charlie",
        "DE",
        "EU",
    )
    assert clinic_request.status == ClinicRequest.Status.PENDING
    assert clinic_request.source_address == "127.0.0.1"
    event = AuditEvent.objects.get(action=AuditAction.CLINIC_REQUESTED)
    assert event.tenant is None
    assert event.object_ids == [str(clinic_request.pk)]
    assert "dana" not in str(event.details)
    assert client.get(response["Location"]).status_code == 200


def test_a_us_country_gets_the_us_jurisdiction(client):
    client.post(reverse("clinic-request"), request_data(country="US"))
    assert ClinicRequest.objects.get().jurisdiction == "US"


def test_only_countries_of_a_jurisdiction_with_a_configured_region_are_offered(client, settings):
    page = client.get(reverse("clinic-request")).content.decode()
    assert 'value="US"' in page and 'value="DE"' in page and 'value="NO"' in page

    settings.PALISADE_STORAGE = {"eu-1": settings.PALISADE_STORAGE["eu-1"]}
    page = client.get(reverse("clinic-request")).content.decode()
    assert 'value="US"' not in page and 'value="FR"' in page
    response = client.post(reverse("clinic-request"), request_data(country="US"))
    assert response.status_code == 200
    assert "country" in response.context["form"].errors
    assert not ClinicRequest.objects.exists()


def test_a_country_palisade_does_not_know_is_refused(client):
    response = client.post(reverse("clinic-request"), request_data(country="JP"))
    assert "country" in response.context["form"].errors
    assert not ClinicRequest.objects.exists()


@pytest.mark.parametrize(
    "slug, error",
    [
        ("Bad Slug!", "Enter a valid"),
        ("ab", "at least 3"),
        ("alpha", "This address is taken"),
    ],
)
def test_a_wished_address_must_be_a_free_valid_slug(client, tenant, slug, error):
    response = client.post(reverse("clinic-request"), request_data(slug=slug))
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["slug"])
    assert not ClinicRequest.objects.exists()


def test_a_slug_already_asked_for_is_refused_while_that_request_waits(client):
    client.post(reverse("clinic-request"), request_data())
    response = client.post(reverse("clinic-request"), request_data(contact_email="other@example.org"))
    assert "already waiting" in " ".join(response.context["form"].errors["slug"])
    assert ClinicRequest.objects.count() == 1


def test_pending_requests_per_e_mail_address_are_capped(client):
    for n in range(services.MAX_PENDING_PER_EMAIL):
        assert client.post(reverse("clinic-request"), request_data(slug=f"charlie-{n}")).status_code == 302
    response = client.post(reverse("clinic-request"), request_data(slug="charlie-x"))
    assert response.status_code == 429
    assert "already waiting" in response.content.decode()
    assert ClinicRequest.objects.count() == services.MAX_PENDING_PER_EMAIL


def test_requests_per_source_address_and_day_are_capped(client):
    for n in range(services.MAX_REQUESTS_PER_ADDRESS_PER_DAY):
        email = f"contact{n}@example.org"
        response = client.post(
            reverse("clinic-request"), request_data(slug=f"clinic-x{n}", contact_email=email)
        )
        assert response.status_code == 302
    response = client.post(
        reverse("clinic-request"), request_data(slug="clinic-last", contact_email="z@example.org")
    )
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
