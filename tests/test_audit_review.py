"""The clinic's audit review page and its CSV export: who may read the trail, what each filter finds,
and that reading or exporting the trail is itself in the trail."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse

import audit
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from audit.review.selectors import EventFilter, filtered_events
from portal.tenancy import tenant_scope
from tests.factories import PatientFactory, StudyFactory


def record(tenant, action, *, at=None, **kwargs) -> AuditEvent:
    event = audit.event(action, tenant=tenant, **kwargs)
    if at is not None:
        event.occurred_at = at
    (written,) = audit.record_all([event])
    return written


def sequences(response) -> list[int]:
    page = response.content.decode()
    return [int(part.split('"', 1)[0]) for part in page.split('data-sequence="')[1:]]


@pytest.fixture
def auditor(tenant, member_factory, client):
    user = member_factory(tenant, Role.AUDITOR)
    client.force_login(user)
    return user


def review(client, tenant, **params):
    return client.get(reverse("audit-review", args=[tenant.slug]), params)


def export(client, tenant, **params):
    return client.get(reverse("audit-export-csv", args=[tenant.slug]), params)


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


# --- Who may read it --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.TENANT_ADMIN])
def test_privacy_officers_and_clinic_admins_read_the_trail(role, tenant, member_factory, client):
    client.force_login(member_factory(tenant, role))

    assert review(client, tenant).status_code == 200
    assert export(client, tenant).status_code == 200


@pytest.mark.parametrize(
    "role", [Role.RADIOLOGIST, Role.TECHNOLOGIST, Role.BILLING, Role.REFERRING_PHYSICIAN, Role.PATIENT]
)
def test_other_roles_get_404_for_the_trail_and_its_export(role, tenant, member_factory, client):
    client.force_login(member_factory(tenant, role))

    assert review(client, tenant).status_code == 404
    assert export(client, tenant).status_code == 404
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.AUDIT_VIEWED, AuditAction.AUDIT_EXPORTED]
    ).exists()


def test_an_auditor_of_another_clinic_gets_404(tenant, other_tenant, member_factory, client):
    client.force_login(member_factory(other_tenant, Role.AUDITOR))

    assert review(client, tenant).status_code == 404
    assert export(client, tenant).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(tenant, client):
    assert review(client, tenant).status_code == 302
    assert export(client, tenant).status_code == 302


def test_the_dashboard_links_the_trail_only_for_those_who_may_read_it(tenant, member_factory, client):
    url = reverse("audit-review", args=[tenant.slug])
    client.force_login(member_factory(tenant, Role.AUDITOR))
    assert url in client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    client.force_login(member_factory(tenant, Role.RADIOLOGIST))
    assert url not in client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()


# --- What it shows ----------------------------------------------------------------------------------------


def test_the_page_lists_the_clinics_events_newest_first_in_plain_words(
    tenant, other_tenant, member_factory, auditor, client
):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    now = datetime.now(UTC)
    older = record(
        tenant,
        AuditAction.VIEW_STUDY,
        actor=radiologist,
        actor_role=Role.RADIOLOGIST,
        at=now - timedelta(hours=2),
        source_address="192.0.2.7",
    )
    newer = record(
        tenant,
        AuditAction.DOWNLOAD,
        actor=radiologist,
        actor_role=Role.RADIOLOGIST,
        at=now - timedelta(hours=1),
    )
    record(other_tenant, AuditAction.VIEW_STUDY, object_ids=["1.2.999"])
    retrieval = record(
        tenant,
        AuditAction.RETRIEVE,
        object_ids=["2.25.41"],
        details={"study": "2.25.40"},
        at=now - timedelta(hours=3),
    )

    response = review(client, tenant)
    page = response.content.decode()

    assert sequences(response) == [newer.sequence, older.sequence, retrieval.sequence]
    assert "Viewed study" in page and "Downloaded a study" in page
    assert radiologist.email in page and "Radiologist" in page and "192.0.2.7" in page
    assert "1.2.999" not in page
    assert '<code>2.25.41</code> <span class="muted">of study</span> <code>2.25.40</code>' in page


def test_the_page_is_paginated_over_the_events_there_were_when_paging_began(tenant, auditor, client):
    for _ in range(60):
        record(tenant, AuditAction.SIGN_IN)

    first = review(client, tenant)
    record(tenant, AuditAction.SIGN_IN)  # recorded while the reviewer reads page 1
    upto = first.context["query"].split("upto=")[1]
    second = review(client, tenant, page=2, upto=upto)

    assert len(sequences(first)) == 50
    assert sequences(first) + sequences(second) == list(range(60, 0, -1))
    assert first.context["page"].paginator.num_pages == 2


def test_each_reading_is_audited_with_the_filter_as_identifiers(tenant, member_factory, auditor, client):
    suspect = member_factory(tenant, Role.RADIOLOGIST, user__email="suspect@example.org")

    review(
        client,
        tenant,
        user="suspect@example.org",
        patient="PID-7",
        action=AuditAction.DOWNLOAD,
        since="2026-01-01",
    )

    event = AuditEvent.objects.get(action=AuditAction.AUDIT_VIEWED)
    assert (event.actor, event.actor_role, event.tenant) == (auditor, Role.AUDITOR, tenant)
    assert event.object_ids == ["PID-7"]
    assert event.details["filter"] == {
        "user": str(suspect.pk),
        "patient_id": "PID-7",
        "action": "download",
        "since": "2026-01-01",
    }
    assert "suspect@example.org" not in str(event.details)


def test_an_invalid_filter_says_which_field_and_lists_nothing(tenant, auditor, client):
    response = review(client, tenant, study="../../etc/passwd", since="2026-02-01", until="2026-01-01")

    assert response.status_code == 200
    assert "A UID is digits and dots" in response.content.decode()
    assert sequences(response) == []
    assert export(client, tenant, study="x").status_code == 400


# --- Each filter ------------------------------------------------------------------------------------------


def test_filter_by_user_email(tenant, member_factory, auditor, client):
    alice = member_factory(tenant, Role.RADIOLOGIST, user__email="alice@example.org")
    bob = member_factory(tenant, Role.RADIOLOGIST, user__email="bob@example.org")
    mine = record(tenant, AuditAction.VIEW_STUDY, actor=alice)
    record(tenant, AuditAction.VIEW_STUDY, actor=bob)

    assert sequences(review(client, tenant, user="ALICE@example.org")) == [mine.sequence]


def test_filter_by_patient_finds_events_naming_the_patient_or_any_of_their_studies(tenant, auditor, client):
    patient = PatientFactory(tenant=tenant, patient_id="PID-42")
    first, second = StudyFactory(tenant=tenant, patient=patient), StudyFactory(tenant=tenant, patient=patient)
    someone_else = StudyFactory(tenant=tenant)
    by_id = record(tenant, AuditAction.SHARE_GRANTED, object_type="patient", object_ids=["PID-42"])
    by_study = record(
        tenant, AuditAction.VIEW_STUDY, object_type="study", object_ids=[first.study_instance_uid]
    )
    listed = record(
        tenant,
        AuditAction.VIEW_STUDY_LIST,
        object_ids=[someone_else.study_instance_uid, second.study_instance_uid],
    )
    # WADO-RS names the instances, and the study in its details; DIMSE the studies.
    by_wado = record(
        tenant, AuditAction.RETRIEVE, object_ids=["2.25.1"], details={"study": first.study_instance_uid}
    )
    by_dimse = record(
        tenant, AuditAction.RETRIEVE, object_ids=["2.25.2"], details={"studies": [second.study_instance_uid]}
    )
    record(tenant, AuditAction.VIEW_STUDY, object_ids=[someone_else.study_instance_uid])
    record(tenant, AuditAction.VIEW_STUDY, object_ids=["PID-421"])

    found = sequences(review(client, tenant, patient="PID-42"))

    assert found == [by_dimse.sequence, by_wado.sequence, listed.sequence, by_study.sequence, by_id.sequence]


def test_filter_by_study_uid_matches_whole_identifiers_only(tenant, auditor, client):
    uid = "1.2.826.0.1.3680043.8.498.1"
    exact = record(tenant, AuditAction.VIEW_STUDY, object_ids=["1.2.3", uid])
    retrieval = record(tenant, AuditAction.RETRIEVE, object_ids=["2.25.9"], details={"study": uid})
    record(tenant, AuditAction.VIEW_STUDY, object_ids=[uid + "0"])
    record(tenant, AuditAction.VIEW_STUDY, object_ids=["9." + uid])
    record(tenant, AuditAction.VIEW_STUDY, object_ids=[f'x"{uid}'])  # the UID, quoted, inside another value
    record(tenant, AuditAction.VIEW_STUDY, details={"note": uid})

    assert sequences(review(client, tenant, study=uid)) == [retrieval.sequence, exact.sequence]


def test_filter_by_action(tenant, auditor, client):
    download = record(tenant, AuditAction.DOWNLOAD)
    record(tenant, AuditAction.VIEW_STUDY)

    assert sequences(review(client, tenant, action=AuditAction.DOWNLOAD)) == [download.sequence]


def test_filter_by_outcome(tenant, auditor, client):
    refused = record(tenant, AuditAction.ACCESS_DENIED, outcome=Outcome.FAILURE)
    record(tenant, AuditAction.VIEW_STUDY)

    assert sequences(review(client, tenant, outcome=Outcome.FAILURE)) == [refused.sequence]


def test_filter_by_date_range_includes_both_days(tenant, auditor, client):
    def at(day, hour):
        return datetime(2026, 3, day, hour, tzinfo=UTC)

    record(tenant, AuditAction.SIGN_IN, at=at(9, 23))
    first_day = record(tenant, AuditAction.SIGN_IN, at=at(10, 0))
    last_day = record(tenant, AuditAction.SIGN_IN, at=at(12, 23))
    record(tenant, AuditAction.SIGN_IN, at=at(13, 0))

    found = sequences(
        review(client, tenant, since="2026-03-10", until="2026-03-12", action=AuditAction.SIGN_IN)
    )

    assert found == [last_day.sequence, first_day.sequence]


def test_filters_combine(tenant, member_factory, auditor, client):
    alice = member_factory(tenant, Role.RADIOLOGIST, user__email="alice@example.org")
    study = StudyFactory(tenant=tenant)
    wanted = record(tenant, AuditAction.DOWNLOAD, actor=alice, object_ids=[study.study_instance_uid])
    record(tenant, AuditAction.VIEW_STUDY, actor=alice, object_ids=[study.study_instance_uid])
    record(tenant, AuditAction.DOWNLOAD, object_ids=[study.study_instance_uid])

    found = sequences(
        review(client, tenant, user=alice.email, study=study.study_instance_uid, action=AuditAction.DOWNLOAD)
    )

    assert found == [wanted.sequence]


def test_the_patient_filter_reads_only_this_clinics_patients(tenant, other_tenant):
    # The same Patient ID at another clinic is another person: their studies are not this one's.
    theirs = StudyFactory(
        tenant=other_tenant, patient=PatientFactory(tenant=other_tenant, patient_id="PID-1")
    )
    record(tenant, AuditAction.VIEW_STUDY, object_ids=[theirs.study_instance_uid])

    with tenant_scope(tenant):
        assert list(filtered_events(tenant, EventFilter(patient_id="PID-1"))) == []


# --- CSV export -------------------------------------------------------------------------------------------


def test_the_export_streams_the_filtered_events_as_csv(tenant, member_factory, auditor, client):
    radiologist = member_factory(tenant, Role.RADIOLOGIST)
    study = StudyFactory(tenant=tenant)
    event = record(
        tenant,
        AuditAction.VIEW_STUDY,
        actor=radiologist,
        actor_role=Role.RADIOLOGIST,
        object_type="study",
        object_ids=[study.study_instance_uid],
        source_address="192.0.2.9",
        details={"service": "page"},
    )
    record(tenant, AuditAction.SIGN_IN, actor=radiologist)

    response = export(client, tenant, study=study.study_instance_uid)

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="audit-{tenant.slug}-')
    assert response["Cache-Control"] == "no-store"
    (row,) = csv_rows(response)
    assert row == {
        "occurred_at": event.occurred_at.isoformat(),
        "sequence": str(event.sequence),
        "action": "view_study",
        "action_name": "Viewed study",
        "outcome": "success",
        "actor_email": radiologist.email,
        "actor_role": "radiologist",
        "object_type": "study",
        "object_ids": study.study_instance_uid,
        "source_address": "192.0.2.9",
        "user_agent": "",
        "session_ref": "",
        "details": '{"service": "page"}',
    }


def test_the_export_is_audited(tenant, auditor, client):
    export(client, tenant, patient="PID-9", outcome=Outcome.FAILURE)

    event = AuditEvent.objects.get(action=AuditAction.AUDIT_EXPORTED)
    assert (event.actor, event.actor_role, event.tenant) == (auditor, Role.AUDITOR, tenant)
    assert event.object_ids == ["PID-9"]
    assert event.details == {"filter": {"patient_id": "PID-9", "outcome": "failure"}, "format": "csv"}


def test_the_export_neutralises_spreadsheet_formulas(tenant, auditor, client):
    event = audit.event(AuditAction.SIGN_IN, tenant=tenant)
    event.user_agent = '=HYPERLINK("http://evil")'
    audit.record_all([event])

    (row,) = [row for row in csv_rows(export(client, tenant, action=AuditAction.SIGN_IN))]

    assert row["user_agent"] == '\'=HYPERLINK("http://evil")'


def test_the_export_holds_only_this_clinics_events(tenant, other_tenant, auditor, client):
    record(other_tenant, AuditAction.SIGN_IN)
    mine = record(tenant, AuditAction.SIGN_IN)

    rows = csv_rows(export(client, tenant, action=AuditAction.SIGN_IN))

    assert [row["sequence"] for row in rows] == [str(mine.sequence)]


def test_a_large_export_is_sent_in_pieces(tenant, auditor, client):
    events = [
        audit.event(AuditAction.SIGN_IN, tenant=tenant, details={"pad": "x" * 200}) for _ in range(1500)
    ]
    audit.record_all(events)

    response = export(client, tenant, action=AuditAction.SIGN_IN)
    pieces = list(response.streaming_content)

    assert len(pieces) > 3
    assert max(len(piece) for piece in pieces) < 2 * 64 * 1024
    assert b"".join(pieces).count(b"\r\n") == 1501


def test_under_asgi_the_export_is_an_asynchronous_stream(tenant, auditor, client):
    # Django reads a synchronous iterator whole before sending it under ASGI; the export must not.
    record(tenant, AuditAction.SIGN_IN)
    async_client = AsyncClient()
    async_client.cookies = client.cookies

    response = async_to_sync(async_client.get)(
        reverse("audit-export-csv", args=[tenant.slug]), {"action": AuditAction.SIGN_IN}
    )

    assert response.status_code == 200
    assert response.is_async

    async def body() -> bytes:
        return b"".join([piece async for piece in response.streaming_content])

    lines = async_to_sync(body)().decode().splitlines()
    assert len(lines) == 2 and lines[0].startswith("occurred_at,sequence,action")
