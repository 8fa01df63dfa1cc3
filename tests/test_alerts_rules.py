"""The alert rules over the audit stream (issue 7, "Alerts"): what raises an alert, and that one burst
raises exactly one, however often and in whatever slices the stream is examined."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from audit.alerts.models import Alert, AlertCursor, AlertKind, AlertRules, Severity
from audit.alerts.services import evaluate_all_chains, evaluate_chain
from audit.chain import chain_of
from audit.checkpoints import sign_checkpoints
from audit.models import AuditAction, AuditEvent, Outcome
from imaging.models import Patient
from portal.tenancy import all_tenants_scope, tenant_scope
from tests.alerts import record_at
from tests.factories import PatientFactory, StudyFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def alerts(**lookup) -> list[Alert]:
    with all_tenants_scope():
        return list(Alert.objects.filter(**lookup).order_by("id"))


def failed_sign_ins(count: int, *, every: timedelta = timedelta(seconds=1), start=START, tenant=None):
    return [
        record_at(
            start + n * every,
            AuditAction.SIGN_IN_FAILED,
            tenant=tenant,
            outcome=Outcome.FAILURE,
            source_address=f"192.0.2.{n % 3 + 1}",
            details={"attempted_name_hmac": f"{n % 5:064x}"},
        )
        for n in range(count)
    ]


def rules_for(tenant, **values) -> AlertRules:
    rules, _ = AlertRules.objects.update_or_create(tenant=tenant, defaults=values)
    return rules


def views(user, tenant, studies, *, start=START, every=timedelta(seconds=30), action=AuditAction.VIEW_STUDY):
    return [
        record_at(
            start + n * every,
            action,
            tenant=tenant,
            actor=user,
            actor_role=Role.RADIOLOGIST,
            object_type="study",
            object_ids=[study.study_instance_uid],
        )
        for n, study in enumerate(studies)
    ]


# --- Failed sign-ins ---------------------------------------------------------------------------------------


def test_ten_failed_sign_ins_within_five_minutes_raise_one_platform_alert():
    failed_sign_ins(10)

    (alert,) = evaluate_all_chains()

    assert (alert.tenant, alert.chain, alert.kind) == (None, "platform", AlertKind.FAILED_SIGN_INS)
    assert alert.severity == Severity.HIGH
    assert alert.count == 10
    assert alert.summary == "10 failed sign-ins within 5 minutes"
    assert sorted(alert.details["addresses"]) == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]


def test_nine_failed_sign_ins_raise_nothing():
    failed_sign_ins(9)

    assert evaluate_all_chains() == []


def test_failures_spread_wider_than_the_window_raise_nothing():
    # Ten failures, but never more than eight within any five minutes.
    failed_sign_ins(10, every=timedelta(seconds=40))

    assert evaluate_all_chains() == []


def test_fifty_failures_examined_in_slices_make_exactly_one_alert_counting_all_of_them():
    events = failed_sign_ins(50)

    for batch_size in (7, 3, 11, 50, 50):
        evaluate_chain("platform", batch_size=batch_size)
    evaluate_all_chains()

    (alert,) = alerts(kind=AlertKind.FAILED_SIGN_INS)
    assert alert.count == 50
    assert (alert.first_sequence, alert.last_sequence) == (events[9].sequence, events[-1].sequence)
    assert alert.first_event_at == events[0].occurred_at
    assert AlertCursor.objects.get(chain="platform").sequence >= events[-1].sequence


def test_every_event_is_examined_once_however_often_the_rules_run():
    failed_sign_ins(10)
    evaluate_all_chains()
    evaluate_all_chains()

    assert len(alerts()) == 1
    assert AuditEvent.objects.filter(action=AuditAction.ALERT_RAISED).count() == 1


def test_a_burst_after_a_quiet_window_raises_a_new_alert():
    failed_sign_ins(12)
    evaluate_all_chains()
    failed_sign_ins(12, start=START + timedelta(minutes=20))
    evaluate_all_chains()

    assert [alert.count for alert in alerts()] == [12, 12]


def test_a_slower_tail_of_the_burst_extends_its_alert():
    failed_sign_ins(10)
    failed_sign_ins(5, every=timedelta(minutes=4), start=START + timedelta(minutes=1))

    evaluate_all_chains()

    (alert,) = alerts()
    assert alert.count == 15


def test_failures_after_an_acknowledged_alert_raise_a_new_one(tenant, member_factory):
    from audit.alerts.services import acknowledge

    failed_sign_ins(10)
    (first,) = evaluate_all_chains()
    with all_tenants_scope():
        acknowledge(first, by=member_factory(tenant, Role.AUDITOR))

    failed_sign_ins(3, start=START + timedelta(seconds=20))
    evaluate_all_chains()

    assert len(alerts()) == 2


def test_a_clinics_failed_sign_ins_alert_its_own_officers_by_its_own_threshold(tenant):
    # Failures recorded in a clinic's context (single sign-on with its provider) are on its chain.
    rules_for(tenant, failed_sign_ins_threshold=3, failed_sign_ins_window_minutes=1)
    failed_sign_ins(3, tenant=tenant)

    (alert,) = evaluate_all_chains()

    assert (alert.tenant, alert.chain) == (tenant, chain_of(tenant.pk))
    assert alert.summary == "3 failed sign-ins within a minute"


def test_a_rule_switched_off_raises_nothing():
    rules_for(None, failed_sign_ins_enabled=False)
    failed_sign_ins(20)

    assert evaluate_all_chains() == []


def test_raising_an_alert_is_audited_in_its_chain():
    failed_sign_ins(10)

    (alert,) = evaluate_all_chains()

    event = AuditEvent.objects.get(action=AuditAction.ALERT_RAISED)
    assert (event.chain, event.object_type, event.object_ids) == ("platform", "alert", [str(alert.pk)])
    assert event.details["kind"] == AlertKind.FAILED_SIGN_INS


# --- Many patients -----------------------------------------------------------------------------------------


def test_a_user_opening_studies_of_many_patients_raises_one_alert(tenant, member_factory):
    rules_for(tenant, many_patients_threshold=5)
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    studies = [StudyFactory(tenant=tenant) for _ in range(8)]
    views(radiologist, tenant, studies)

    (alert,) = evaluate_all_chains()

    assert (alert.kind, alert.subject_user, alert.subject_key) == (
        AlertKind.MANY_PATIENTS,
        radiologist,
        f"user:{radiologist.pk}",
    )
    assert alert.count == 8
    assert alert.summary == f"User #{radiologist.pk} opened studies of 5 patients within 60 minutes"
    assert alert.details["studies"] == [study.study_instance_uid for study in studies]
    assert "Doe" not in alert.summary


def test_many_studies_of_one_patient_are_one_patient(tenant, member_factory):
    rules_for(tenant, many_patients_threshold=3)
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    patient = PatientFactory(tenant=tenant)
    views(radiologist, tenant, [StudyFactory(tenant=tenant, patient=patient) for _ in range(10)])

    assert evaluate_all_chains() == []


def test_patients_are_counted_per_user(tenant, member_factory):
    rules_for(tenant, many_patients_threshold=3)
    first, second = member_factory(tenant, Role.RADIOLOGIST), member_factory(tenant, Role.RADIOLOGIST)
    studies = [StudyFactory(tenant=tenant) for _ in range(4)]
    views(first, tenant, studies[:2])
    views(second, tenant, studies[2:])

    assert evaluate_all_chains() == []


def test_a_dicom_peer_retrieving_many_patients_is_not_a_person_browsing(tenant):
    rules_for(tenant, many_patients_threshold=2, bulk_download_enabled=False)
    studies = [StudyFactory(tenant=tenant) for _ in range(5)]
    record_at(
        START,
        AuditAction.RETRIEVE,
        tenant=tenant,
        actor_role="remote_ae",
        details={
            "calling_ae": "PACS",
            "service": "c-move",
            "studies": [s.study_instance_uid for s in studies],
        },
    )

    assert evaluate_all_chains() == []


# --- Bulk downloads ----------------------------------------------------------------------------------------


def test_downloading_many_studies_raises_bulk_download(tenant, member_factory):
    rules_for(tenant, bulk_download_threshold=3, many_patients_enabled=False)
    technologist = member_factory(tenant, Role.TECHNOLOGIST)
    studies = [StudyFactory(tenant=tenant) for _ in range(3)]
    views(technologist, tenant, studies, action=AuditAction.DOWNLOAD)

    (alert,) = evaluate_all_chains()

    assert (alert.kind, alert.subject_user) == (AlertKind.BULK_DOWNLOAD, technologist)
    assert alert.summary == f"User #{technologist.pk} downloaded 3 studies within 60 minutes"


def test_wado_retrieves_of_whole_objects_count_as_downloads_and_viewer_frames_do_not(tenant, member_factory):
    rules_for(tenant, bulk_download_threshold=2, many_patients_enabled=False)
    user = member_factory(tenant, Role.RADIOLOGIST)
    studies = [StudyFactory(tenant=tenant) for _ in range(3)]

    def retrieve(study, transaction):
        record_at(
            START,
            AuditAction.RETRIEVE,
            tenant=tenant,
            actor=user,
            object_type="instance",
            object_ids=["2.25.99"],
            details={"service": "wado-rs", "transaction": transaction, "study": study.study_instance_uid},
        )

    for study in studies:
        for transaction in ("frames", "metadata", "thumbnail", "rendered"):
            retrieve(study, transaction)
    assert evaluate_all_chains() == []

    retrieve(studies[0], "retrieve")
    retrieve(studies[1], "retrieve")
    (alert,) = evaluate_all_chains()
    assert alert.kind == AlertKind.BULK_DOWNLOAD


def test_a_dicom_peer_pulling_many_studies_is_a_bulk_download(tenant):
    rules_for(tenant, bulk_download_threshold=3)
    studies = [StudyFactory(tenant=tenant) for _ in range(3)]
    record_at(
        START,
        AuditAction.RETRIEVE,
        tenant=tenant,
        actor_role="remote_ae",
        details={
            "calling_ae": "WORKSTATION",
            "service": "c-get",
            "studies": [s.study_instance_uid for s in studies],
        },
    )

    (alert,) = evaluate_all_chains()

    assert (alert.kind, alert.subject_key, alert.subject_user) == (
        AlertKind.BULK_DOWNLOAD,
        "ae:WORKSTATION",
        None,
    )


# --- Usual hours -------------------------------------------------------------------------------------------


def test_access_outside_the_usual_hours_raises_one_alert_per_night(tenant, member_factory):
    rules_for(
        tenant,
        off_hours_enabled=True,
        usual_hours_start=time(8, 0),
        usual_hours_end=time(18, 0),
        time_zone="Europe/Berlin",
    )
    user = member_factory(tenant, Role.RADIOLOGIST)
    study = StudyFactory(tenant=tenant)
    # 16:30 UTC is 17:30 in Berlin (March, winter time): usual. 17:30 UTC is 18:30: not.
    views(user, tenant, [study], start=datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    views(
        user, tenant, [study] * 4, start=datetime(2026, 3, 2, 17, 30, tzinfo=UTC), every=timedelta(minutes=20)
    )

    (alert,) = evaluate_all_chains()

    assert (alert.kind, alert.subject_user, alert.count) == (AlertKind.OFF_HOURS, user, 4)
    assert alert.severity == Severity.LOW


def test_usual_hours_may_span_midnight():
    rules = AlertRules(usual_hours_start=time(22, 0), usual_hours_end=time(6, 0), time_zone="UTC")

    assert rules.is_usual_time(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    assert rules.is_usual_time(datetime(2026, 3, 2, 5, 59, tzinfo=UTC))
    assert not rules.is_usual_time(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


def test_usual_hours_are_off_until_the_clinic_sets_them(tenant, member_factory):
    user = member_factory(tenant, Role.RADIOLOGIST)
    views(user, tenant, [StudyFactory(tenant=tenant)], start=datetime(2026, 3, 2, 3, 0, tzinfo=UTC))

    assert evaluate_all_chains() == []


# --- Restricted patients -----------------------------------------------------------------------------------


def test_opening_a_restricted_patients_study_raises_one_alert_per_person_and_patient(tenant, member_factory):
    vip = PatientFactory(tenant=tenant)
    with tenant_scope(tenant):
        Patient.objects.filter(pk=vip.pk).update(is_restricted=True)
    study = StudyFactory(tenant=tenant, patient=vip)
    ordinary = StudyFactory(tenant=tenant)
    first, second = member_factory(tenant, Role.RADIOLOGIST), member_factory(tenant, Role.TECHNOLOGIST)
    views(first, tenant, [study, study, ordinary, study])
    views(second, tenant, [study])

    raised = evaluate_all_chains()

    assert [(alert.kind, alert.subject_user, alert.count) for alert in raised] == [
        (AlertKind.RESTRICTED_PATIENT, first, 3),
        (AlertKind.RESTRICTED_PATIENT, second, 1),
    ]
    assert raised[0].details["patients"] == [str(vip.pk)]
    assert raised[0].summary == f"User #{first.pk} opened a study of a restricted patient"
    assert raised[0].severity == Severity.HIGH


# --- Break-the-glass and the chain -------------------------------------------------------------------------


def test_a_break_the_glass_event_raises_an_alert_that_the_stream_does_not_repeat(tenant, member_factory):
    from audit.alerts.services import raise_for_event

    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    study = StudyFactory(tenant=tenant)
    event = record_at(
        timezone.now(),
        AuditAction.BREAK_THE_GLASS,
        tenant=tenant,
        actor=doctor,
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"grant": 7, "minutes": 60},
    )

    (alert,) = raise_for_event(event)
    assert evaluate_all_chains() == []

    assert (alert.kind, alert.severity, alert.subject_user) == (AlertKind.BREAK_GLASS, Severity.HIGH, doctor)
    assert alert.details == {"grants": ["7"], "studies": [study.study_instance_uid]}
    assert len(alerts()) == 1


def test_break_the_glass_recorded_elsewhere_is_still_alerted_by_the_stream(tenant, member_factory):
    doctor = member_factory(tenant, Role.REFERRING_PHYSICIAN)
    record_at(START, AuditAction.BREAK_THE_GLASS, tenant=tenant, actor=doctor, object_ids=["2.25.1"])
    record_at(START, AuditAction.BREAK_THE_GLASS, tenant=tenant, actor=doctor, object_ids=["2.25.2"])

    assert [alert.kind for alert in evaluate_all_chains()] == [AlertKind.BREAK_GLASS] * 2


def _tamper(event: AuditEvent) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
    AuditEvent.objects.filter(pk=event.pk).update(details={"tampered": True})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def test_a_chain_that_fails_the_daily_verification_raises_one_critical_alert(tenant, member_factory):
    events = views(member_factory(tenant, Role.RADIOLOGIST), tenant, [StudyFactory(tenant=tenant)] * 3)
    _tamper(events[1])

    sign_checkpoints()
    sign_checkpoints()
    evaluate_all_chains()

    (alert,) = alerts(kind=AlertKind.CHAIN_BROKEN)
    assert (alert.tenant, alert.severity, alert.count) == (tenant, Severity.CRITICAL, 2)
    assert alert.summary == f"Audit chain {chain_of(tenant.pk)} does not verify from event 2"


def test_a_break_already_acknowledged_is_not_alerted_again(tenant, member_factory):
    from audit.alerts.services import acknowledge

    officer = member_factory(tenant, Role.AUDITOR)
    events = views(member_factory(tenant, Role.RADIOLOGIST), tenant, [StudyFactory(tenant=tenant)] * 3)
    _tamper(events[1])
    sign_checkpoints()
    (alert,) = alerts()
    with tenant_scope(tenant):
        acknowledge(alert, by=officer)

    sign_checkpoints()
    evaluate_all_chains()

    assert len(alerts()) == 1
    head = AuditEvent.objects.filter(tenant=tenant).order_by("-sequence").first()
    assert AlertCursor.objects.get(chain=chain_of(tenant.pk)).sequence == head.sequence


def test_verify_audit_chain_alerts_when_it_finds_a_break(tenant, member_factory):
    events = views(member_factory(tenant, Role.RADIOLOGIST), tenant, [StudyFactory(tenant=tenant)] * 2)
    _tamper(events[0])

    with pytest.raises(CommandError, match="broken at event 1"):
        call_command("verify_audit_chain", "--tenant", tenant.slug)

    (alert,) = alerts()
    assert (alert.kind, alert.tenant) == (AlertKind.CHAIN_BROKEN, tenant)
    assert AuditEvent.objects.filter(action=AuditAction.SECURITY_ALERT, tenant=tenant).count() == 1


# --- Scope -------------------------------------------------------------------------------------------------


def test_a_clinic_sees_its_own_alerts_only(tenant, other_tenant, member_factory):
    rules_for(tenant, many_patients_threshold=2)
    rules_for(other_tenant, many_patients_threshold=2)
    for clinic in (tenant, other_tenant):
        views(
            member_factory(clinic, Role.RADIOLOGIST), clinic, [StudyFactory(tenant=clinic) for _ in range(2)]
        )
    failed_sign_ins(10)
    evaluate_all_chains()

    with tenant_scope(tenant):
        assert [alert.tenant for alert in Alert.objects.all()] == [tenant]
    assert len(alerts()) == 3


def test_beat_runs_the_rules_often_and_the_delivery_sweeper(settings):
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert schedule["audit.alerts.tasks.evaluate_alert_rules"] <= 60
    assert "audit.alerts.tasks.redeliver_pending_alerts" in schedule


@pytest.mark.django_db(transaction=True)
def test_evaluators_running_at_once_examine_each_event_once(caplog):
    import threading

    from django.db import connections

    failed_sign_ins(40)
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            evaluate_all_chains()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [record.message for record in caplog.records if record.levelname == "ERROR"] == []
    (alert,) = alerts()
    assert alert.count == 40
    assert AuditEvent.objects.filter(action=AuditAction.ALERT_RAISED).count() == 1


def test_storage_faults_raised_by_replication_and_scrub_become_alerts(tenant):
    # As imaging.replication records them: ids and regions only.
    record_at(
        START,
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        outcome=Outcome.FAILURE,
        object_type="stored_object",
        object_ids=["7f0c"],
        details={"alert": "replication_failed", "regions": ["eu-2"]},
    )
    record_at(
        START + timedelta(minutes=1),
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        outcome=Outcome.FAILURE,
        object_type="stored_object",
        object_ids=["7f0d"],
        details={"alert": "residency_violation", "region": "us-1"},
    )
    record_at(
        START + timedelta(minutes=2),
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        details={"alert": "audit_log_unreadable"},
    )

    evaluate_chain(chain_of(tenant.pk))

    raised = sorted(alerts(kind=AlertKind.STORAGE_FAULT), key=lambda alert: alert.summary)
    assert [(alert.severity, alert.summary) for alert in raised] == [
        (Severity.HIGH, "Stored objects could not be copied to eu-2"),
        (Severity.HIGH, "Stored objects were refused a copy outside the clinic's jurisdiction in us-1"),
    ]
