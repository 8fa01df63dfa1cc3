"""A patient's "who viewed my images" page: each access to their own studies, by whom and in what role,
named as the clinic decides, and read from the audit trail (which records the reading too)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

import audit
from accounts.roles import Role
from audit.models import AuditAction, AuditEvent, Outcome
from audit.review import access_history
from tests.factories import PatientFactory, ShareLinkFactory, StudyFactory, UserFactory

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def record(tenant, action, *, at=NOW, **kwargs) -> AuditEvent:
    event = audit.event(action, tenant=tenant, **kwargs)
    event.occurred_at = at
    (written,) = audit.record_all([event])
    return written


@pytest.fixture
def patient(tenant, member_factory):
    return member_factory(tenant, Role.PATIENT)


@pytest.fixture
def study(tenant, patient):
    return StudyFactory(
        tenant=tenant,
        patient=PatientFactory(tenant=tenant, account=patient, patient_id="PID-1"),
        description="MR KNEE",
    )


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST, user__full_name="Dr Ada Reader")


def history(client, tenant, **params):
    return client.get(reverse("access-history", args=[tenant.slug]), params)


def rows(response) -> list[tuple[str, str, str]]:
    """(who, role, what) of each row."""
    return [(row.who, row.role, row.what) for row in response.context["history"].rows]


def view_of(tenant, study, user, role=Role.RADIOLOGIST, **kwargs) -> AuditEvent:
    return record(
        tenant,
        AuditAction.VIEW_STUDY,
        actor=user,
        actor_role=role,
        object_type="study",
        object_ids=[study.study_instance_uid],
        **kwargs,
    )


# --- Who may read it --------------------------------------------------------------------------------------


def test_a_patient_sees_who_opened_their_study_with_name_role_and_time(
    tenant, patient, study, radiologist, client
):
    view_of(tenant, study, radiologist)
    client.force_login(patient)

    response = history(client, tenant)

    assert response.status_code == 200
    assert rows(response) == [("Dr Ada Reader", "Radiologist", "Viewed study")]
    page = response.content.decode()
    assert "2026-05-04 10:00" in page and "MR KNEE" in page


@pytest.mark.parametrize(
    "role",
    [
        Role.TENANT_ADMIN,
        Role.RADIOLOGIST,
        Role.TECHNOLOGIST,
        Role.BILLING,
        Role.AUDITOR,
        Role.REFERRING_PHYSICIAN,
    ],
)
def test_other_members_get_404(role, tenant, member_factory, client):
    client.force_login(member_factory(tenant, role))

    assert history(client, tenant).status_code == 404


def test_a_patient_of_another_clinic_gets_404(tenant, other_tenant, member_factory, client):
    client.force_login(member_factory(other_tenant, Role.PATIENT))

    assert history(client, tenant).status_code == 404


def test_the_patients_dashboard_links_the_page_and_a_radiologists_does_not(
    tenant, patient, radiologist, client
):
    url = reverse("access-history", args=[tenant.slug])
    client.force_login(patient)
    assert url in client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()

    client.force_login(radiologist)
    assert url not in client.get(reverse("clinic-dashboard", args=[tenant.slug])).content.decode()


def test_reading_the_page_is_audited(tenant, patient, study, client):
    client.force_login(patient)

    history(client, tenant)

    event = AuditEvent.objects.get(action=AuditAction.AUDIT_VIEWED)
    assert (event.actor, event.actor_role, event.tenant) == (patient, Role.PATIENT, tenant)
    assert (event.object_type, event.object_ids) == ("patient", ["PID-1"])


# --- Whose accesses ---------------------------------------------------------------------------------------


def test_accesses_to_another_patients_studies_are_not_shown(tenant, patient, study, radiologist, client):
    someone_else = StudyFactory(tenant=tenant, description="CT CHEST")
    view_of(tenant, someone_else, radiologist)
    # A retrieval naming both studies shows only this patient's.
    record(
        tenant,
        AuditAction.RETRIEVE,
        actor=radiologist,
        actor_role=Role.RADIOLOGIST,
        details={"studies": [someone_else.study_instance_uid, study.study_instance_uid]},
    )
    client.force_login(patient)

    response = history(client, tenant)

    assert [row.study for row in response.context["history"].rows] == [study]
    assert "CT CHEST" not in response.content.decode()


def test_the_same_study_uid_at_another_clinic_is_not_this_patients(
    tenant, other_tenant, patient, study, member_factory, client
):
    elsewhere = member_factory(other_tenant, Role.RADIOLOGIST)
    record(other_tenant, AuditAction.VIEW_STUDY, actor=elsewhere, object_ids=[study.study_instance_uid])
    client.force_login(patient)

    assert rows(history(client, tenant)) == []


def test_opens_downloads_shares_and_break_the_glass_are_listed_but_not_lists_searches_or_refusals(
    tenant, patient, study, radiologist, client
):
    uid = study.study_instance_uid
    listed = {
        AuditAction.VIEW_STUDY: "Viewed study",
        AuditAction.RETRIEVE: "Retrieved instances",
        AuditAction.DOWNLOAD: "Downloaded a study",
        AuditAction.SHARE_GRANTED: "Shared with a doctor",
        AuditAction.SHARE_LINK_CREATED: "Created a share link",
        AuditAction.BREAK_THE_GLASS: "Broke the glass",
    }
    for minutes, action in enumerate(listed):
        record(
            tenant,
            action,
            actor=radiologist,
            actor_role=Role.RADIOLOGIST,
            object_ids=[uid],
            at=NOW + timedelta(minutes=minutes),
        )
    for action in (AuditAction.QUERY, AuditAction.VIEW_STUDY_LIST):
        record(tenant, action, actor=radiologist, object_ids=[uid], at=NOW + timedelta(hours=1))
    record(
        tenant,
        AuditAction.ACCESS_DENIED,
        actor=radiologist,
        outcome=Outcome.FAILURE,
        object_ids=[uid],
        at=NOW + timedelta(hours=1),
    )
    record(
        tenant,
        AuditAction.VIEW_STUDY,
        actor=radiologist,
        outcome=Outcome.FAILURE,
        object_ids=[uid],
        at=NOW + timedelta(hours=1),
    )
    client.force_login(patient)

    assert [what for _, _, what in rows(history(client, tenant))] == list(reversed(listed.values()))


def test_a_share_of_every_study_of_the_patient_is_listed_for_all_their_studies(
    tenant, patient, study, radiologist, client
):
    record(
        tenant,
        AuditAction.SHARE_GRANTED,
        actor=radiologist,
        actor_role=Role.RADIOLOGIST,
        object_type="patient",
        object_ids=["PID-1"],
    )
    # The same Patient ID as another kind of object is not this patient.
    record(
        tenant, AuditAction.SHARE_GRANTED, actor=radiologist, object_type="api_token", object_ids=["PID-1"]
    )
    client.force_login(patient)

    response = history(client, tenant)

    assert [row.study for row in response.context["history"].rows] == [None]
    assert "All your studies" in response.content.decode()


# --- Grouping ---------------------------------------------------------------------------------------------


def wado_retrieval(tenant, study, user, at) -> AuditEvent:
    return record(
        tenant,
        AuditAction.RETRIEVE,
        actor=user,
        actor_role=Role.RADIOLOGIST,
        object_type="instance",
        object_ids=["2.25.77"],
        details={"service": "wado-rs", "study": study.study_instance_uid},
        at=at,
    )


def test_a_viewer_session_of_many_retrievals_is_one_row(tenant, patient, study, radiologist, client):
    for seconds in range(0, 600, 30):  # twenty requests over ten minutes, each under the gap after the last
        wado_retrieval(tenant, study, radiologist, NOW + timedelta(seconds=seconds))
    client.force_login(patient)

    response = history(client, tenant)

    (row,) = response.context["history"].rows
    assert (row.requests, row.first_at, row.last_at) == (20, NOW, NOW + timedelta(seconds=570))
    assert "20 requests" in response.content.decode()


def test_retrievals_apart_by_more_than_the_gap_or_by_another_person_are_separate_rows(
    tenant, patient, study, radiologist, member_factory, client
):
    technologist = member_factory(tenant, Role.TECHNOLOGIST)
    wado_retrieval(tenant, study, radiologist, NOW)
    wado_retrieval(tenant, study, radiologist, NOW + timedelta(minutes=1))
    wado_retrieval(tenant, study, technologist, NOW + timedelta(minutes=2))
    wado_retrieval(
        tenant,
        study,
        radiologist,
        NOW + timedelta(minutes=1) + access_history.GROUP_GAP + timedelta(seconds=1),
    )
    client.force_login(patient)

    found = [(row.event.actor, row.requests) for row in history(client, tenant).context["history"].rows]

    assert found == [(radiologist, 1), (technologist, 1), (radiologist, 2)]


def test_downloads_are_never_grouped(tenant, patient, study, radiologist, client):
    for seconds in (0, 10):
        record(
            tenant,
            AuditAction.DOWNLOAD,
            actor=radiologist,
            object_ids=[study.study_instance_uid],
            at=NOW + timedelta(seconds=seconds),
        )
    client.force_login(patient)

    assert len(rows(history(client, tenant))) == 2


def test_a_group_cut_by_the_page_end_is_complete_and_the_next_page_follows(
    tenant, patient, study, radiologist, member_factory, client, monkeypatch
):
    monkeypatch.setattr(access_history, "ROWS_PER_PAGE", 2)
    others = [member_factory(tenant, Role.TECHNOLOGIST) for _ in range(2)]
    for index, other in enumerate(others):
        view_of(tenant, study, other, role=Role.TECHNOLOGIST, at=NOW + timedelta(hours=2 - index))
    for minutes in range(4):
        wado_retrieval(tenant, study, radiologist, NOW + timedelta(minutes=minutes))
    wado_retrieval(tenant, study, radiologist, NOW - timedelta(hours=1))
    client.force_login(patient)

    first = history(client, tenant).context["history"]
    second = history(client, tenant, page=2).context["history"]

    assert [row.event.actor for row in first.rows] == others and first.has_next
    assert [(row.event.actor, row.requests) for row in second.rows] == [(radiologist, 4), (radiologist, 1)]
    assert not second.has_next


# --- Names ------------------------------------------------------------------------------------------------


def test_the_patients_own_accesses_say_you(tenant, patient, study, client):
    view_of(tenant, study, patient, role=Role.PATIENT)
    client.force_login(patient)

    assert rows(history(client, tenant)) == [("You", "Patient", "Viewed study")]


def test_staff_without_a_full_name_are_named_by_e_mail(tenant, patient, study, member_factory, client):
    technologist = member_factory(tenant, Role.TECHNOLOGIST, user__email="tech@example.org")
    view_of(tenant, study, technologist, role=Role.TECHNOLOGIST)
    client.force_login(patient)

    assert rows(history(client, tenant)) == [("tech@example.org", "Technologist", "Viewed study")]


def test_a_clinic_may_show_roles_without_names(tenant, patient, study, radiologist, client, settings):
    settings.PALISADE_ACCESS_HISTORY_NAMES = "role_only"
    view_of(tenant, study, radiologist)
    view_of(tenant, study, patient, role=Role.PATIENT, at=NOW + timedelta(hours=1))
    client.force_login(patient)

    response = history(client, tenant)

    assert rows(response) == [
        ("You", "Patient", "Viewed study"),
        ("Name not shown", "Radiologist", "Viewed study"),
    ]
    assert "Dr Ada Reader" not in response.content.decode()
    assert radiologist.email not in response.content.decode()


def test_the_choice_is_per_clinic(tenant, other_tenant, settings):
    settings.PALISADE_ACCESS_HISTORY_NAMES = {other_tenant.slug: "role_only", "*": "role_and_name"}

    assert access_history.names_shown(tenant) == "role_and_name"
    assert access_history.names_shown(other_tenant) == "role_only"


def test_an_unknown_choice_shows_roles_only(tenant, settings):
    settings.PALISADE_ACCESS_HISTORY_NAMES = "everything"

    assert access_history.names_shown(tenant) == "role_only"


def test_by_default_names_and_roles_are_shown(tenant, settings):
    del settings.PALISADE_ACCESS_HISTORY_NAMES

    assert access_history.names_shown(tenant) == "role_and_name"


def test_share_link_visitors_show_as_someone_with_the_links_label(tenant, patient, study, client):
    link = ShareLinkFactory(tenant=tenant, studies=[study], label="Second opinion, Dr Lee")
    unlabelled = ShareLinkFactory(tenant=tenant, studies=[study])
    record(
        tenant,
        AuditAction.SHARE_LINK_OPENED,
        object_type="study",
        object_ids=[study.study_instance_uid],
        details={"share_link": link.pk},
    )
    record(
        tenant,
        AuditAction.RETRIEVE,
        object_ids=["2.25.5"],
        details={"study": study.study_instance_uid, "share_link": unlabelled.pk},
        at=NOW + timedelta(hours=1),
    )
    client.force_login(patient)

    assert rows(history(client, tenant)) == [
        ("Someone with a share link", "Share link", "Retrieved instances"),
        ("Someone with a share link (Second opinion, Dr Lee)", "Share link", "Opened a share link"),
    ]


def test_a_dicom_system_of_the_clinic_is_named_by_its_ae_title(tenant, patient, study, client):
    record(
        tenant,
        AuditAction.RETRIEVE,
        actor_role="remote_ae",
        object_ids=["2.25.6"],
        details={"calling_ae": "WORKSTATION1", "studies": [study.study_instance_uid]},
    )
    client.force_login(patient)

    assert rows(history(client, tenant)) == [
        ("A DICOM system of the clinic (WORKSTATION1)", "DICOM system", "Retrieved instances")
    ]


def test_names_on_the_page_are_escaped(tenant, patient, study, client):
    user = UserFactory(full_name="<script>alert(1)</script>")
    view_of(tenant, study, user)
    client.force_login(patient)

    page = history(client, tenant).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
