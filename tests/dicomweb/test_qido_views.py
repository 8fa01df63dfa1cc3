"""QIDO-RS over HTTP: the DICOM JSON model, paging headers, refusals, access and audit."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.tokens import issue_token
from audit.models import AuditAction, AuditEvent, Outcome
from tests.dicomweb.qido import build_index

ROUTES = [
    ("dicomweb-stow", lambda ix: {}),
    ("dicomweb-qido-study-series", lambda ix: {"study_uid": ix.head.study_instance_uid}),
    (
        "dicomweb-qido-series-instances",
        lambda ix: {"study_uid": ix.head.study_instance_uid, "series_uid": ix.head_ct.series_instance_uid},
    ),
    ("dicomweb-qido-study-instances", lambda ix: {"study_uid": ix.head.study_instance_uid}),
    ("dicomweb-qido-series", lambda ix: {}),
    ("dicomweb-qido-instances", lambda ix: {}),
]


@pytest.fixture
def index(tenant):
    return build_index(tenant)


@pytest.fixture
def reader_token(tenant, member_factory) -> str:
    return issue_token(member_factory(tenant, Role.RADIOLOGIST), tenant)[1]


def qido(client, route: str, token: str | None = None, slug: str = "alpha", accept=None, **kwargs):
    params = kwargs.pop("params", {})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if accept is not None:
        headers["Accept"] = accept
    return client.get(reverse(route, kwargs={"tenant_slug": slug, **kwargs}), params, headers=headers)


def test_studies_answer_in_the_dicom_json_model(client, index, reader_token):
    response = qido(client, "dicomweb-stow", reader_token, params={"AccessionNumber": "ACC100"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom+json"
    (study,) = response.json()
    uid = index.head.study_instance_uid
    assert study["0020000D"] == {"vr": "UI", "Value": [uid]}
    assert study["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane^Mary"}]}
    assert study["00080020"] == {"vr": "DA", "Value": ["20200115"]}
    assert study["00080030"] == {"vr": "TM", "Value": ["093000"]}
    assert study["00080061"] == {"vr": "CS", "Value": ["CT", "MR"]}
    assert study["00201206"] == {"vr": "IS", "Value": [2]}
    assert study["00201208"] == {"vr": "IS", "Value": [3]}
    assert study["00080056"] == {"vr": "CS", "Value": ["ONLINE"]}
    assert study["00081190"]["Value"] == [f"http://testserver/dicomweb/alpha/studies/{uid}"]
    assert list(study) == sorted(study)


def test_empty_attributes_carry_no_value_and_name_groups_are_split(client, index, reader_token):
    (study,) = qido(client, "dicomweb-stow", reader_token, params={"AccessionNumber": "XYZ300"}).json()

    assert study["00080020"] == {"vr": "DA"}
    assert study["00080090"] == {"vr": "PN"}
    assert study["00100010"]["Value"] == [{"Alphabetic": "Smith^John", "Ideographic": "山田^太郎"}]


def test_series_and_instances_carry_counts_and_retrieve_urls(client, index, reader_token):
    study, series = index.head.study_instance_uid, index.head_ct.series_instance_uid
    found = qido(client, "dicomweb-qido-study-series", reader_token, study_uid=study).json()
    instances = qido(
        client, "dicomweb-qido-series-instances", reader_token, study_uid=study, series_uid=series
    ).json()

    assert [item["00201209"]["Value"] for item in found] == [[2], [1]]
    assert found[0]["00081190"]["Value"] == [
        f"http://testserver/dicomweb/alpha/studies/{study}/series/{series}"
    ]
    assert "00100010" not in found[0]
    sop = index.instances[0].sop_instance_uid
    assert instances[0]["00081190"]["Value"][0].endswith(f"/series/{series}/instances/{sop}")
    assert instances[0]["00280010"] == {"vr": "US", "Value": [512]}


def test_flat_instances_include_study_and_series_attributes(client, index, reader_token):
    (knee,) = qido(client, "dicomweb-qido-instances", reader_token, params={"NumberOfFrames": "3"}).json()

    assert knee["00100020"]["Value"] == ["PID-2"]
    assert knee["00080060"]["Value"] == ["MR"]
    assert knee["00280008"]["Value"] == [3]


def test_application_json_is_answered_with_dicom_json(client, index, reader_token):
    response = qido(client, "dicomweb-stow", reader_token, accept="application/json")

    assert response.status_code == 200
    assert len(response.json()) == 3


def test_other_media_types_are_not_acceptable(client, index, reader_token):
    assert qido(client, "dicomweb-stow", reader_token, accept="application/dicom+xml").status_code == 406


def test_nothing_matching_is_200_and_an_empty_array(client, index, reader_token):
    response = qido(client, "dicomweb-stow", reader_token, params={"PatientID": "nobody"})

    assert response.status_code == 200
    assert response.json() == []


def test_a_truncated_page_says_so_in_a_warning_header(client, index, reader_token):
    truncated = qido(client, "dicomweb-stow", reader_token, params={"limit": "2"})
    complete = qido(client, "dicomweb-stow", reader_token, params={"limit": "2", "offset": "2"})

    assert len(truncated.json()) == 2
    assert truncated["Warning"].startswith("299 testserver: ")
    assert len(complete.json()) == 1
    assert "Warning" not in complete


def test_an_unsupported_key_is_400_naming_it(client, index, reader_token):
    response = qido(client, "dicomweb-stow", reader_token, params={"BitsAllocated": "16"})

    assert response.status_code == 400
    assert "BitsAllocated" in response.json()["detail"]


def test_a_successful_query_is_audited_with_identifiers_only(client, index, reader_token):
    qido(client, "dicomweb-stow", reader_token, params={"PatientName": "Doe*"})

    event = AuditEvent.objects.get(action=AuditAction.QUERY)
    assert event.outcome == Outcome.SUCCESS
    assert event.actor_role == Role.RADIOLOGIST
    assert set(event.object_ids) == {index.head.study_instance_uid, index.chest.study_instance_uid}
    assert event.details["keys"] == ["00100010"]
    assert "Doe" not in str(event.details)


def test_without_credentials_the_answer_is_401(client, index):
    assert qido(client, "dicomweb-stow").status_code == 401


@pytest.mark.parametrize(("route", "kwargs"), ROUTES)
def test_a_token_of_another_clinic_gets_404_and_is_audited(
    client, index, other_tenant, member_factory, route, kwargs
):
    theirs = issue_token(member_factory(other_tenant, Role.TENANT_ADMIN), other_tenant)[1]

    response = qido(client, route, theirs, **kwargs(index))

    assert response.status_code == 404
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.outcome == Outcome.FAILURE
    assert denied.details["route"] == route
    assert not AuditEvent.objects.filter(action=AuditAction.QUERY).exists()


@pytest.mark.parametrize(("route", "kwargs"), ROUTES)
def test_a_session_of_another_clinic_gets_404_and_is_audited(
    client, index, other_tenant, member_factory, route, kwargs
):
    user = member_factory(other_tenant, Role.RADIOLOGIST)
    client.force_login(user)

    response = qido(client, route, **kwargs(index))

    assert response.status_code == 404
    denied = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert denied.actor == user


@pytest.mark.parametrize(("route", "kwargs"), ROUTES)
def test_a_referring_physician_without_shares_finds_nothing(client, index, member_factory, route, kwargs):
    user = member_factory(index.head.tenant, Role.REFERRING_PHYSICIAN)
    client.force_login(user)

    response = qido(client, route, **kwargs(index))

    if "study_uid" in kwargs(index):
        # A search inside a study they may not open: the study is, to them, one that does not exist.
        assert response.status_code == 404
        assert AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED).actor == user
    else:
        assert response.status_code == 200
        assert response.json() == []


def test_billing_gets_the_study_list(client, index, member_factory):
    client.force_login(member_factory(index.head.tenant, Role.BILLING))

    assert len(qido(client, "dicomweb-stow").json()) == 3


def test_billing_may_list_a_study_but_not_search_inside_it(client, index, member_factory):
    user = member_factory(index.head.tenant, Role.BILLING)
    client.force_login(user)

    response = qido(client, "dicomweb-qido-study-series", study_uid=index.head.study_instance_uid)

    assert response.status_code == 404
    assert AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED).actor == user
    assert not AuditEvent.objects.filter(action=AuditAction.QUERY).exists()


def test_a_search_inside_a_study_that_matches_nothing_is_200_and_empty(client, index, reader_token):
    response = qido(
        client,
        "dicomweb-qido-study-series",
        reader_token,
        study_uid=index.head.study_instance_uid,
        params={"Modality": "PT"},
    )

    assert response.status_code == 200
    assert response.json() == []
    assert AuditEvent.objects.get(action=AuditAction.QUERY).details["results"] == 0
    assert not AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).exists()


def test_a_bad_key_inside_a_study_is_400_only_to_who_may_open_it(client, index, member_factory, reader_token):
    route, uid, params = "dicomweb-qido-study-series", index.head.study_instance_uid, {"BitsAllocated": "16"}
    client.force_login(member_factory(index.head.tenant, Role.REFERRING_PHYSICIAN))

    assert qido(client, route, study_uid=uid, params=params).status_code == 404
    client.logout()
    assert qido(client, route, reader_token, study_uid=uid, params=params).status_code == 400


def test_post_to_studies_still_reaches_stow(client, index, reader_token):
    response = client.post(
        reverse("dicomweb-stow", args=["alpha"]),
        data=b"",
        content_type="application/json",
        headers={"Authorization": f"Bearer {reader_token}"},
    )

    assert response.status_code == 415
