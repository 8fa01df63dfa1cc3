"""Thirty days before an agreement ends: one e-mail to the clinic's admins, and a banner."""

from datetime import timedelta

from django.core import mail
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from portal.agreements.models import AgreementAcceptance
from portal.agreements.tasks import warn_expiring_agreements
from portal.tenancy import tenant_scope
from tests.agreements.conftest import accept_all


def ends_in(acceptance: AgreementAcceptance, days: int) -> None:
    with tenant_scope(acceptance.tenant):
        AgreementAcceptance.objects.filter(pk=acceptance.pk).update(
            expires_at=timezone.now() + timedelta(days=days, hours=1)
        )


def banner(tenant, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load agreements_tags %}{% agreements_banner tenant %}")
    return template.render(Context({"tenant": tenant, "request": request}))


def test_admins_are_emailed_once_thirty_days_before_the_end(tenant, clinic_admin, member_factory):
    second_admin = member_factory(tenant, Role.TENANT_ADMIN)
    member_factory(tenant, Role.RADIOLOGIST)
    dpa, terms = accept_all(tenant, clinic_admin)
    ends_in(dpa, 29)
    ends_in(terms, 31)

    assert warn_expiring_agreements() == 1
    assert warn_expiring_agreements() == 0  # the next day's run

    (message,) = mail.outbox
    assert sorted(message.to) == sorted([clinic_admin.email, second_admin.email])
    assert message.subject == "Alpha Imaging: the Data Processing Agreement expires in 29 days"
    assert reverse("agreements", args=[tenant.slug]) in message.body
    with tenant_scope(tenant):
        dpa.refresh_from_db()
        terms.refresh_from_db()
    assert dpa.expiry_warned_at is not None and terms.expiry_warned_at is None


def test_a_renewed_agreement_is_not_warned_about(tenant, clinic_admin):
    dpa, _ = accept_all(tenant, clinic_admin)
    ends_in(dpa, 20)
    accept_all(tenant, clinic_admin)  # renewed before the warning went out

    assert warn_expiring_agreements() == 0
    assert mail.outbox == []


def test_an_acceptance_renewed_then_nearing_its_own_end_is_warned_about_again(tenant, clinic_admin):
    dpa, _ = accept_all(tenant, clinic_admin)
    ends_in(dpa, 20)
    warn_expiring_agreements()
    renewed, _ = accept_all(tenant, clinic_admin)
    ends_in(renewed, 25)

    assert warn_expiring_agreements() == 1
    assert len(mail.outbox) == 2


def test_the_banner_names_the_agreement_about_to_end_with_a_link_for_admins(
    tenant, clinic_admin, member_factory
):
    dpa, _ = accept_all(tenant, clinic_admin)
    ends_in(dpa, 12)

    shown = banner(tenant, clinic_admin)
    to_radiologist = banner(tenant, member_factory(tenant, Role.RADIOLOGIST))

    assert "An agreement is about to expire." in shown
    assert "The Data Processing Agreement expires in 12 days" in shown
    assert "Terms of service" not in shown
    assert reverse("agreements", args=[tenant.slug]) in shown
    assert "The Data Processing Agreement expires in 12 days" in to_radiologist
    assert reverse("agreements", args=[tenant.slug]) not in to_radiologist


def test_the_banner_says_studies_are_refused_while_an_agreement_is_missing(tenant, clinic_admin):
    shown = banner(tenant, clinic_admin)

    assert "Studies cannot be received" in shown
    assert "The Data Processing Agreement has not been accepted." in shown
    assert "The Terms of service has not been accepted." in shown


def test_no_banner_while_every_agreement_is_in_force_for_more_than_thirty_days(tenant, clinic_admin):
    accept_all(tenant, clinic_admin)

    assert 'data-testid="agreements-banner"' not in banner(tenant, clinic_admin)


def test_the_agreements_page_shows_the_banner(client, tenant, clinic_admin):
    dpa, _ = accept_all(tenant, clinic_admin)
    ends_in(dpa, 5)
    client.force_login(clinic_admin)

    html = client.get(reverse("agreements", args=[tenant.slug])).content.decode()

    assert 'data-testid="agreements-banner"' in html
    assert "The Data Processing Agreement expires in 5 days" in html


def test_the_dashboard_shows_the_banner_while_an_agreement_is_missing(client, tenant, clinic_admin):
    client.force_login(clinic_admin)

    html = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert 'data-testid="agreements-banner"' in html
    assert "Studies cannot be received" in html
    assert 'data-testid="agreements-banner-link"' in html


def test_the_dashboard_shows_no_banner_once_every_agreement_is_in_force(client, tenant, clinic_admin):
    accept_all(tenant, clinic_admin)
    client.force_login(clinic_admin)

    html = client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    assert 'data-testid="agreements-banner"' not in html
