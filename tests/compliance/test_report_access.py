"""Who may read the compliance report: a clinic's admins and privacy officers, of that clinic only.
Everyone else gets 404, as for a page that does not exist; each reading is audited."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditAction, AuditEvent

PAGES = ["compliance-report", "compliance-report-pdf"]


def url(name: str, tenant) -> str:
    return reverse(name, kwargs={"tenant_slug": tenant.slug})


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.AUDITOR])
def test_the_clinics_admins_and_privacy_officers_read_the_report(client, tenant, member_factory, role):
    client.force_login(member_factory(tenant, role))
    response = client.get(url("compliance-report", tenant))
    assert response.status_code == 200
    assert b'data-testid="compliance-report"' in response.content


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    "role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.REFERRING_PHYSICIAN, Role.BILLING, Role.PATIENT]
)
def test_other_roles_get_404(client, tenant, member_factory, role, name):
    client.force_login(member_factory(tenant, role))
    assert client.get(url(name, tenant)).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.COMPLIANCE_REPORT_VIEWED).exists()


@pytest.mark.parametrize("name", PAGES)
def test_another_clinics_admin_gets_404(client, tenant, other_tenant, member_factory, name):
    client.force_login(member_factory(other_tenant, Role.TENANT_ADMIN))
    assert client.get(url(name, tenant)).status_code == 404


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client, tenant):
    response = client.get(url("compliance-report", tenant))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_reading_the_report_is_audited_with_the_statuses_it_showed(client, tenant, member_factory):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    client.force_login(admin)
    client.get(url("compliance-report", tenant))
    event = AuditEvent.objects.get(action=AuditAction.COMPLIANCE_REPORT_VIEWED)
    assert (event.tenant, event.actor, event.actor_role) == (tenant, admin, "tenant_admin")
    assert event.object_ids == [tenant.slug]
    assert event.details["format"] == "html"
    assert set(event.details["statuses"]) == {
        "hipaa-access-control",
        "hipaa-encryption",
        "hipaa-audit",
        "hipaa-integrity",
        "hipaa-authentication",
        "hipaa-transmission",
        "gdpr-5",
        "gdpr-17",
        "gdpr-30",
        "gdpr-32",
    }


def test_the_report_is_not_cached(client, tenant, member_factory):
    client.force_login(member_factory(tenant, Role.AUDITOR))
    response = client.get(url("compliance-report", tenant))
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_the_dashboard_links_offer_the_report_to_those_who_may_read_it_and_transparency_to_all(
    rf, tenant, member_factory
):
    from portal.compliance.templatetags.compliance_tags import compliance_links

    def labels(role) -> list[str]:
        request = rf.get("/")
        request.user = member_factory(tenant, role)
        return [link["label"] for link in compliance_links({"tenant": tenant, "request": request})]

    assert labels(Role.AUDITOR) == ["Compliance report", "How your data is protected"]
    assert labels(Role.TENANT_ADMIN) == ["Compliance report", "How your data is protected"]
    assert labels(Role.PATIENT) == ["How your data is protected"]
    assert labels(Role.RADIOLOGIST) == ["How your data is protected"]
