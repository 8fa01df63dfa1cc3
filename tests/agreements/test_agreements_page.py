"""The clinic's agreements page: statuses, texts, history, and acceptance by clinic admins."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent
from portal.agreements import services
from portal.agreements.models import AgreementAcceptance, AgreementText
from portal.tenancy import tenant_scope
from tests.agreements.conftest import accept_all, expire_all
from tests.factories import TenantFactory

ACCEPT_LABEL = "I have read and accept this agreement on behalf of the clinic"


def page(client, tenant):
    return client.get(reverse("agreements", args=[tenant.slug]))


def accept_form(kind: str, **overrides) -> dict:
    return {
        "kind": kind,
        "signer_name": "Dana  Admin",
        "signer_role": "Medical director",
        "accept": "on",
        **overrides,
    }


def form_html(html: str, kind: str) -> str:
    match = re.search(rf'<form[^>]*data-testid="accept-{kind}".*?</form>', html, re.S)
    assert match, f"no form for {kind}"
    return match.group(0)


def test_the_page_lists_what_the_jurisdiction_requires_as_missing_with_each_text_and_its_hash(
    client, tenant, clinic_admin
):
    client.force_login(clinic_admin)

    html = page(client, tenant).content.decode()

    # eu-1 is an EU region: the DPA and the terms, not the BAA.
    assert 'data-testid="agreement-dpa"' in html and 'data-testid="agreement-terms"' in html
    assert 'data-testid="agreement-baa"' not in html
    dpa = services.current_text("dpa")
    assert dpa.sha256 == hashlib.sha256(dpa.body.encode()).hexdigest()
    assert f'data-testid="agreement-sha256-dpa">{dpa.sha256}<' in html
    assert "Article 28(3)(a)" in html  # the text itself
    assert re.search(r'data-testid="agreement-status-dpa">\s*<span class="refusal">Missing', html)
    assert "Never accepted." in html


def test_the_accept_form_has_the_contract_the_onboarding_test_fills(client, tenant, clinic_admin):
    client.force_login(clinic_admin)

    form = form_html(page(client, tenant).content.decode(), "dpa")

    assert re.search(r'<input type="hidden" name="kind" value="dpa"', form)
    assert re.search(r'<input type="text" name="signer_name"', form)
    assert re.search(r'<input type="text" name="signer_role"', form)
    assert re.search(r'<input type="checkbox" name="accept"', form)
    assert ACCEPT_LABEL in form
    assert re.search(r'<button type="submit"[^>]*>Accept</button>', form)


def test_a_clinic_admin_accepts_and_the_acceptance_is_recorded_with_the_hash_and_audited(
    client, tenant, clinic_admin
):
    client.force_login(clinic_admin)

    response = client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa"))

    assert response.status_code == 302
    text = services.current_text("dpa")
    with tenant_scope(tenant):
        (acceptance,) = AgreementAcceptance.objects.filter(tenant=tenant)
        event = AuditEvent.objects.get(tenant=tenant, action=AuditAction.AGREEMENT_ACCEPTED)
    assert acceptance.text == text and acceptance.document_sha256 == text.sha256
    assert acceptance.signer == clinic_admin
    assert (acceptance.signer_name, acceptance.signer_role) == ("Dana Admin", "Medical director")
    assert acceptance.expires_at - acceptance.signed_at == timedelta(days=text.term_days)
    assert event.actor == clinic_admin and event.details["sha256"] == text.sha256
    html = client.get(response["Location"]).content.decode()
    until = acceptance.expires_at.strftime("%Y-%m-%d")
    assert re.search(rf'data-testid="agreement-status-dpa">\s*<span class="ok">In force until {until}', html)
    assert "Dana Admin" in html and acceptance.document_sha256 in html
    assert services.missing_agreements(tenant) == ["terms"]


def test_accepting_without_ticking_the_box_records_nothing(client, tenant, clinic_admin):
    client.force_login(clinic_admin)

    response = client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa", accept=""))

    assert response.status_code == 400
    assert "Tick the box to accept the agreement." in response.content.decode()
    with tenant_scope(tenant):
        assert not AgreementAcceptance.objects.exists()


def test_a_kind_the_clinic_does_not_need_cannot_be_accepted(client, tenant, clinic_admin):
    client.force_login(clinic_admin)

    response = client.post(reverse("agreements", args=[tenant.slug]), accept_form("baa"))

    assert response.status_code == 400
    with tenant_scope(tenant):
        assert not AgreementAcceptance.objects.exists()


def test_a_text_published_while_the_signer_read_the_old_one_is_not_accepted_unread(
    client, tenant, clinic_admin
):
    client.force_login(clinic_admin)
    shown = services.current_text("dpa").sha256
    AgreementText.objects.create(
        kind="dpa", version=2, title="Data Processing Agreement", body="Version two."
    )

    response = client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa", sha256=shown))

    assert response.status_code == 400
    assert "A new version of this agreement was published" in response.content.decode()
    with tenant_scope(tenant):
        assert not AgreementAcceptance.objects.exists()


def test_a_newer_version_can_be_accepted_and_takes_over(client, tenant, clinic_admin):
    accept_all(tenant, clinic_admin)
    newer = AgreementText.objects.create(
        kind="dpa", version=2, title="Data Processing Agreement", body="Two."
    )
    client.force_login(clinic_admin)

    before = page(client, tenant).content.decode()
    response = client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa", sha256=newer.sha256))

    assert "Version 2 has been published: accepting it renews the agreement." in before
    assert response.status_code == 302
    assert services.in_force(tenant)["dpa"].text == newer
    after = page(client, tenant).content.decode()
    assert "Version 2 has been published" not in after
    assert after.count('data-testid="acceptance-row"') == 3  # dpa v1, dpa v2, terms v1


def test_renewing_before_expiry_extends_the_agreement(client, tenant, clinic_admin):
    (dpa, _) = accept_all(tenant, clinic_admin)
    with tenant_scope(tenant):
        AgreementAcceptance.objects.filter(pk=dpa.pk).update(
            expires_at=timezone.now() + timedelta(days=10, hours=1)
        )
    client.force_login(clinic_admin)

    assert "Expiring in 10 days" in page(client, tenant).content.decode()
    client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa"))

    renewed = services.in_force(tenant)["dpa"]
    assert renewed.pk != dpa.pk and renewed.expires_at > timezone.now() + timedelta(days=360)


def test_an_expired_agreement_shows_as_expired(client, tenant, clinic_admin):
    accept_all(tenant, clinic_admin)
    expire_all(tenant)
    client.force_login(clinic_admin)

    html = page(client, tenant).content.decode()

    assert re.search(r'data-testid="agreement-status-dpa">\s*<span class="refusal">Expired', html)


def test_an_auditor_reads_the_page_without_the_forms_and_cannot_accept(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.AUDITOR))

    response = page(client, tenant)
    posted = client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa"))

    assert response.status_code == 200
    assert 'data-testid="agreement-dpa"' in response.content.decode()
    assert 'data-testid="accept-dpa"' not in response.content.decode()
    assert posted.status_code == 404
    with tenant_scope(tenant):
        assert not AgreementAcceptance.objects.exists()


@pytest.mark.parametrize(
    "role", [Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.REFERRING_PHYSICIAN, Role.BILLING, Role.PATIENT]
)
def test_other_members_get_404(client, tenant, member_factory, role):
    client.force_login(member_factory(tenant, role))

    assert page(client, tenant).status_code == 404
    assert client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa")).status_code == 404


def test_an_admin_of_another_clinic_gets_404(client, tenant, member_factory):
    other = TenantFactory(slug="bravo", name="Bravo Radiology")
    client.force_login(member_factory(other, Role.TENANT_ADMIN))

    assert page(client, tenant).status_code == 404
    assert client.post(reverse("agreements", args=[tenant.slug]), accept_form("dpa")).status_code == 404


def test_a_us_clinic_needs_the_baa(client, member_factory):
    clinic = TenantFactory(slug="us-clinic", name="US Clinic", home_region="us-1", agreements=False)
    client.force_login(member_factory(clinic, Role.TENANT_ADMIN))

    html = page(client, clinic).content.decode()

    assert 'data-testid="accept-baa"' in html and 'data-testid="accept-terms"' in html
    assert 'data-testid="agreement-dpa"' not in html
    assert "164.504(e)" in html
