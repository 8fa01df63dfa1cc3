"""The alerts page of a clinic's privacy officers, acknowledging alerts, and the clinic's alert settings."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from audit.alerts.models import Alert, AlertKind, AlertRules
from audit.alerts.services import evaluate_all_chains
from audit.models import AuditAction, AuditEvent
from portal.tenancy import all_tenants_scope
from tests.alerts import record_at
from tests.factories import StudyFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def many_patients_alert(tenant, member_factory) -> Alert:
    AlertRules.objects.update_or_create(tenant=tenant, defaults={"many_patients_threshold": 2})
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    for study in (StudyFactory(tenant=tenant), StudyFactory(tenant=tenant)):
        record_at(
            START,
            AuditAction.VIEW_STUDY,
            tenant=tenant,
            actor=radiologist,
            object_type="study",
            object_ids=[study.study_instance_uid],
        )
    (alert,) = evaluate_all_chains()
    return alert


def page_url(tenant) -> str:
    return reverse("alerts", kwargs={"tenant_slug": tenant.slug})


def acknowledge_url(tenant, alert) -> str:
    return reverse("alert-acknowledge", kwargs={"tenant_slug": tenant.slug, "alert_id": alert.pk})


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.TENANT_ADMIN])
def test_privacy_officers_and_admins_see_the_clinics_open_alerts(tenant, member_factory, role):
    alert = many_patients_alert(tenant, member_factory)

    response = signed_in(member_factory(tenant, role)).get(page_url(tenant))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-alert-id="{alert.pk}"' in page
    assert alert.summary in page
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize(
    "role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.REFERRING_PHYSICIAN, Role.BILLING, Role.PATIENT]
)
def test_everyone_else_finds_no_alerts_page(tenant, member_factory, role):
    many_patients_alert(tenant, member_factory)

    assert signed_in(member_factory(tenant, role)).get(page_url(tenant)).status_code == 404


def test_another_clinics_officer_finds_nothing(tenant, other_tenant, member_factory):
    alert = many_patients_alert(tenant, member_factory)
    outsider = signed_in(member_factory(other_tenant, Role.AUDITOR))

    assert outsider.get(page_url(tenant)).status_code == 404
    response = outsider.get(page_url(other_tenant))
    assert f'data-alert-id="{alert.pk}"' not in response.content.decode()
    assert outsider.post(acknowledge_url(other_tenant, alert)).status_code == 404
    with all_tenants_scope():
        assert Alert.objects.get(pk=alert.pk).acknowledged_at is None


def test_reading_the_alerts_is_audited(tenant, member_factory):
    alert = many_patients_alert(tenant, member_factory)
    officer = member_factory(tenant, Role.AUDITOR)

    signed_in(officer).get(page_url(tenant))

    event = AuditEvent.objects.get(action=AuditAction.AUDIT_VIEWED)
    assert (event.actor, event.actor_role, event.object_type, event.object_ids) == (
        officer,
        Role.AUDITOR,
        "alert",
        [str(alert.pk)],
    )


def test_an_officer_acknowledges_an_alert_once_and_it_leaves_the_open_list(tenant, member_factory):
    alert = many_patients_alert(tenant, member_factory)
    officer = member_factory(tenant, Role.AUDITOR)
    client = signed_in(officer)

    response = client.post(acknowledge_url(tenant, alert))
    again = client.post(acknowledge_url(tenant, alert), follow=True)

    assert response.status_code == 302 and response.url == page_url(tenant)
    assert "was already acknowledged" in again.content.decode()
    with all_tenants_scope():
        stored = Alert.objects.get(pk=alert.pk)
    assert (stored.acknowledged_by, stored.acknowledged_at is not None) == (officer, True)
    event = AuditEvent.objects.get(action=AuditAction.ALERT_ACKNOWLEDGED)
    assert (event.actor, event.tenant, event.object_ids) == (officer, tenant, [str(alert.pk)])
    assert f'data-alert-id="{alert.pk}"' not in client.get(page_url(tenant)).content.decode()
    every = client.get(page_url(tenant), {"show": "all"}).content.decode()
    assert f'data-alert-id="{alert.pk}"' in every and f"Acknowledged by {officer.email}" in every


def test_acknowledging_takes_a_post(tenant, member_factory):
    alert = many_patients_alert(tenant, member_factory)

    response = signed_in(member_factory(tenant, Role.AUDITOR)).get(acknowledge_url(tenant, alert))

    assert response.status_code == 405


def test_platform_alerts_are_not_on_any_clinics_page(tenant, member_factory):
    for _ in range(10):
        record_at(START, AuditAction.SIGN_IN_FAILED)
    (alert,) = evaluate_all_chains()
    client = signed_in(member_factory(tenant, Role.AUDITOR))

    assert f'data-alert-id="{alert.pk}"' not in client.get(page_url(tenant)).content.decode()
    assert client.post(acknowledge_url(tenant, alert)).status_code == 404


def test_operators_list_and_acknowledge_every_alert_in_the_platform_admin(tenant, member_factory):
    from tests.factories import UserFactory

    clinic_alert = many_patients_alert(tenant, member_factory)
    for _ in range(10):
        record_at(START, AuditAction.SIGN_IN_FAILED)
    (platform_alert,) = evaluate_all_chains()
    operator = UserFactory(is_superuser=True, is_staff=True)
    client = signed_in(operator)

    listing = client.get(reverse("admin:alerts_alert_changelist")).content.decode()
    client.post(
        reverse("admin:alerts_alert_changelist"),
        {"action": "acknowledge", "_selected_action": [platform_alert.pk]},
    )

    assert clinic_alert.summary in listing and platform_alert.summary in listing
    with all_tenants_scope():
        assert Alert.objects.get(pk=platform_alert.pk).acknowledged_by == operator
    event = AuditEvent.objects.get(action=AuditAction.ALERT_ACKNOWLEDGED)
    assert (event.chain, event.actor_role) == ("platform", "platform_operator")


# --- Settings ----------------------------------------------------------------------------------------------


def settings_url(tenant) -> str:
    return reverse("alert-settings", kwargs={"tenant_slug": tenant.slug})


def settings_form(**changes) -> dict:
    values = {
        "failed_sign_ins_enabled": "on",
        "failed_sign_ins_threshold": "10",
        "failed_sign_ins_window_minutes": "5",
        "many_patients_enabled": "on",
        "many_patients_threshold": "25",
        "many_patients_window_minutes": "60",
        "bulk_download_enabled": "on",
        "bulk_download_threshold": "10",
        "bulk_download_window_minutes": "60",
        "usual_hours_start": "07:00",
        "usual_hours_end": "19:00",
        "time_zone": "UTC",
        "off_hours_window_minutes": "60",
        "restricted_patient_enabled": "on",
        "restricted_patient_window_minutes": "60",
        "email_enabled": "on",
        "email_recipients": "",
        "webhook_url": "",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def test_the_clinic_admin_sets_thresholds_and_hours_and_the_change_is_audited(tenant, member_factory):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    client = signed_in(admin)

    response = client.post(
        settings_url(tenant),
        settings_form(
            many_patients_threshold="40",
            off_hours_enabled="on",
            usual_hours_start="06:30",
            time_zone="Europe/Paris",
            email_recipients="dpo@example.org; soc@example.org",
        ),
    )

    assert response.status_code == 302
    rules = AlertRules.objects.get(tenant=tenant)
    assert (rules.many_patients_threshold, rules.off_hours_enabled, rules.time_zone) == (
        40,
        True,
        "Europe/Paris",
    )
    assert rules.email_recipients == "dpo@example.org, soc@example.org"
    event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert (event.actor, event.object_type) == (admin, "alerts.alertrules")
    assert {"many_patients_threshold", "off_hours_enabled", "usual_hours_start", "time_zone"} <= set(
        event.details["fields"]
    )


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"time_zone": "Mars/Olympus"}, "Unknown time zone"),
        ({"usual_hours_end": "07:00"}, "must not start and end at the same time"),
        ({"failed_sign_ins_threshold": "1"}, "greater than or equal to 2"),
        ({"webhook_url": "http://127.0.0.1:9000/hook"}, "will not send alerts there"),
        ({"email_recipients": "not an address"}, "valid email"),
    ],
)
def test_settings_that_make_no_sense_are_refused_with_a_reason(tenant, member_factory, changes, error):
    client = signed_in(member_factory(tenant, Role.TENANT_ADMIN))

    response = client.post(settings_url(tenant), settings_form(**changes))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not AlertRules.objects.filter(tenant=tenant).exists()


def test_a_webhook_gets_a_secret_shown_to_the_admin_who_may_replace_it(settings, tenant, member_factory):
    settings.PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = True
    client = signed_in(member_factory(tenant, Role.TENANT_ADMIN))
    client.post(settings_url(tenant), settings_form(webhook_url="http://127.0.0.1:9000/hook"))
    secret = AlertRules.objects.get(tenant=tenant).webhook_secret

    assert len(secret) >= 40 and secret in client.get(settings_url(tenant)).content.decode()
    client.post(
        settings_url(tenant), settings_form(webhook_url="http://127.0.0.1:9000/hook", new_webhook_secret="on")
    )
    assert AlertRules.objects.get(tenant=tenant).webhook_secret != secret
    assert secret not in str(list(AuditEvent.objects.values_list("details", flat=True)))


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.RADIOLOGIST, Role.BILLING])
def test_only_the_clinic_admin_changes_the_settings(tenant, member_factory, role):
    client = signed_in(member_factory(tenant, role))

    assert client.get(settings_url(tenant)).status_code == 404
    assert client.post(settings_url(tenant), settings_form(failed_sign_ins_enabled=None)).status_code == 404
    assert not AlertRules.objects.filter(tenant=tenant).exists()


def test_the_kinds_of_alert_are_named_on_the_page(tenant, member_factory):
    many_patients_alert(tenant, member_factory)

    page = signed_in(member_factory(tenant, Role.AUDITOR)).get(page_url(tenant)).content.decode()

    assert AlertKind.MANY_PATIENTS.label in page


def test_an_operator_marks_a_patient_restricted_and_the_change_is_audited(tenant):
    from imaging.models import Patient
    from portal.tenancy import tenant_scope
    from tests.factories import PatientFactory, UserFactory

    patient = PatientFactory(tenant=tenant, name="Secret^Name")
    operator = UserFactory(is_superuser=True, is_staff=True)
    client = signed_in(operator)
    change = reverse("admin:imaging_patient_change", args=[patient.pk])

    form = client.get(change).content.decode()
    response = client.post(change, {"is_restricted": "on"})

    assert "Secret" not in form and 'name="is_restricted"' in form
    assert response.status_code == 302
    with tenant_scope(tenant):
        assert Patient.objects.get(pk=patient.pk).is_restricted
    event = AuditEvent.objects.get(action=AuditAction.ADMIN_CHANGE)
    assert (event.actor, event.tenant, event.object_type, event.details) == (
        operator,
        tenant,
        "imaging.patient",
        {"operation": "change", "fields": ["is_restricted"]},
    )
