"""The query layer (imaging.query) over a factory-built index: each matching rule of PS3.4 C.2.2.2."""

import pytest
from django.http import QueryDict

from accounts.roles import Role
from imaging.dicomweb.qido_params import parse_query
from imaging.query import Level, search_instances, search_series, search_studies
from portal.tenancy import tenant_scope
from tests.dicomweb.qido import build_index

STUDY_UID, SERIES_UID, SOP_UID = 0x0020000D, 0x0020000E, 0x00080018
SEARCHES = {Level.STUDY: search_studies, Level.SERIES: search_series, Level.INSTANCE: search_instances}


@pytest.fixture
def index(tenant):
    return build_index(tenant)


@pytest.fixture
def radiologist(tenant, member_factory):
    return member_factory(tenant, Role.RADIOLOGIST)


def search(user, tenant, query: str, level=Level.STUDY, path=None, **paging):
    parsed = parse_query(QueryDict(query), level, path or {})
    with tenant_scope(tenant):
        return SEARCHES[level](user, tenant, parsed.criteria, **paging)


def found(user, tenant, query: str, level=Level.STUDY, path=None) -> set[str]:
    uid = {Level.STUDY: STUDY_UID, Level.SERIES: SERIES_UID, Level.INSTANCE: SOP_UID}[level]
    return {row[uid] for row in search(user, tenant, query, level, path).rows}


def uids(*objects) -> set[str]:
    return {
        getattr(o, "study_instance_uid", None)
        or getattr(o, "series_instance_uid", None)
        or o.sop_instance_uid
        for o in objects
    }


def test_no_keys_match_every_visible_study(radiologist, tenant, index):
    assert found(radiologist, tenant, "") == uids(index.head, index.chest, index.knee)


def test_a_single_value_matches_exactly(radiologist, tenant, index):
    assert found(radiologist, tenant, "AccessionNumber=ACC100") == uids(index.head)
    assert found(radiologist, tenant, "AccessionNumber=ACC10") == set()


def test_keys_may_be_eight_hex_digit_tags(radiologist, tenant, index):
    assert found(radiologist, tenant, "00080050=ACC200") == uids(index.chest)
    assert found(radiologist, tenant, "00100020=PID-2") == uids(index.knee)


def test_person_names_match_case_insensitively(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientName=doe^jane^mary") == uids(index.head, index.chest)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("ACC*", {"head", "chest"}),
        ("*300", {"knee"}),
        ("*C2*", {"chest"}),
        ("ACC?00", {"head", "chest"}),
        ("A*1?0", {"head"}),
        ("*", {"head", "chest", "knee"}),
    ],
)
def test_wildcards_star_and_question_mark(radiologist, tenant, index, pattern, expected):
    assert found(radiologist, tenant, f"AccessionNumber={pattern}") == uids(
        *(getattr(index, n) for n in expected)
    )


def test_like_metacharacters_in_a_pattern_are_literal(radiologist, tenant, index):
    assert found(radiologist, tenant, "StudyDescription=CHEST_50%25*") == uids(index.chest)
    assert found(radiologist, tenant, "StudyDescription=CT_HEAD*") == set()
    assert found(radiologist, tenant, "StudyDescription=*%25") == uids(index.chest)


def test_wildcards_on_person_names_ignore_case(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientName=smith*") == uids(index.knee)
    assert found(radiologist, tenant, "PatientName=D?E^*") == uids(index.head, index.chest)


def test_fuzzy_matching_takes_prefixes_of_any_name_component(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientName=jan&fuzzymatching=true") == uids(index.head, index.chest)
    assert found(radiologist, tenant, "PatientName=MAR doe&fuzzymatching=true") == uids(
        index.head, index.chest
    )
    assert found(radiologist, tenant, "PatientName=john&fuzzymatching=true") == uids(index.knee)
    assert found(radiologist, tenant, "PatientName=山田&fuzzymatching=true") == uids(index.knee)
    assert found(radiologist, tenant, "PatientName=ane&fuzzymatching=true") == set()
    assert found(radiologist, tenant, "ReferringPhysicianName=greg&fuzzymatching=true") == uids(index.head)


def test_without_fuzzy_matching_a_name_component_alone_does_not_match(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientName=jane") == set()


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ("20200115", {"head"}),
        ("20200101-", {"head", "chest"}),
        ("20210101-", {"chest"}),
        ("-20201231", {"head"}),
        ("20200101-20201231", {"head"}),
        ("20200116-20210629", set()),
    ],
)
def test_study_date_exact_and_ranges(radiologist, tenant, index, dates, expected):
    assert found(radiologist, tenant, f"StudyDate={dates}") == uids(*(getattr(index, n) for n in expected))


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ("093000", {"head"}),
        ("09", {"head"}),
        ("0930", {"head"}),
        ("1200-", {"chest"}),
        ("-1000", {"head"}),
        ("0900-1405", {"head", "chest"}),
        ("1405-140509", set()),
    ],
)
def test_study_time_exact_and_ranges(radiologist, tenant, index, times, expected):
    assert found(radiologist, tenant, f"StudyTime={times}") == uids(*(getattr(index, n) for n in expected))


def test_birth_date_range(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientBirthDate=19800101-") == uids(index.knee)


def test_uid_lists_by_backslash_comma_or_repetition(radiologist, tenant, index):
    head, knee = index.head.study_instance_uid, index.knee.study_instance_uid
    expected = uids(index.head, index.knee)
    assert found(radiologist, tenant, f"StudyInstanceUID={head}%5C{knee}") == expected
    assert found(radiologist, tenant, f"StudyInstanceUID={head},{knee}") == expected
    assert found(radiologist, tenant, f"StudyInstanceUID={head}&StudyInstanceUID={knee}") == expected


def test_modalities_in_study_matches_any_series_modality(radiologist, tenant, index):
    assert found(radiologist, tenant, "ModalitiesInStudy=MR") == uids(index.head, index.knee)
    assert found(radiologist, tenant, "ModalitiesInStudy=CT,MR") == uids(index.head, index.chest, index.knee)
    assert found(radiologist, tenant, "00080061=XA") == set()


def test_series_of_one_study_and_flat_series(radiologist, tenant, index):
    path = {Level.STUDY: index.head.study_instance_uid}
    assert found(radiologist, tenant, "", Level.SERIES, path) == uids(index.head_ct, index.head_mr)
    assert found(radiologist, tenant, "Modality=MR", Level.SERIES) == uids(index.head_mr, index.knee_mr)
    assert found(radiologist, tenant, "SeriesNumber=7", Level.SERIES) == uids(index.knee_mr)


def test_series_match_on_study_and_patient_attributes(radiologist, tenant, index):
    assert found(radiologist, tenant, "PatientID=PID-1&Modality=CT", Level.SERIES) == uids(
        index.head_ct, index.chest_ct
    )


def test_instances_nested_and_flat(radiologist, tenant, index):
    head = index.head.study_instance_uid
    of_study = found(radiologist, tenant, "", Level.INSTANCE, {Level.STUDY: head})
    of_series = found(
        radiologist,
        tenant,
        "",
        Level.INSTANCE,
        {Level.STUDY: head, Level.SERIES: index.head_mr.series_instance_uid},
    )
    assert of_study == uids(*index.instances[:3])
    assert of_series == uids(index.instances[2])
    assert found(radiologist, tenant, "Modality=MR&InstanceNumber=1", Level.INSTANCE) == uids(
        index.instances[2], index.instances[4]
    )


def test_a_series_path_under_the_wrong_study_matches_nothing(radiologist, tenant, index):
    path = {Level.STUDY: index.chest.study_instance_uid, Level.SERIES: index.head_ct.series_instance_uid}
    assert found(radiologist, tenant, "", Level.INSTANCE, path) == set()


def test_a_path_uid_and_a_conflicting_uid_key_match_nothing(radiologist, tenant, index):
    path = {Level.STUDY: index.head.study_instance_uid}
    query = f"StudyInstanceUID={index.chest.study_instance_uid}"
    assert found(radiologist, tenant, query, Level.SERIES, path) == set()


def test_limit_and_offset_page_in_index_order_and_tell_when_truncated(radiologist, tenant, index):
    first = search(radiologist, tenant, "", limit=2)
    rest = search(radiologist, tenant, "", limit=2, offset=2)
    exact = search(radiologist, tenant, "", limit=3)

    assert [row[STUDY_UID] for row in first.rows + rest.rows] == [
        s.study_instance_uid for s in (index.head, index.chest, index.knee)
    ]
    assert first.truncated and not rest.truncated and not exact.truncated


def test_study_rows_carry_the_computed_attributes(radiologist, tenant, index):
    (row,) = search(radiologist, tenant, f"StudyInstanceUID={index.head.study_instance_uid}").rows

    assert row[0x00201206] == 2
    assert row[0x00201208] == 3
    assert row[0x00080061] == ["CT", "MR"]
    assert row[0x00080056] == "ONLINE"


def test_series_rows_carry_their_instance_count(radiologist, tenant, index):
    path = {Level.STUDY: index.head.study_instance_uid}
    rows = search(radiologist, tenant, "", Level.SERIES, path).rows

    assert [row[0x00201209] for row in rows] == [2, 1]


def test_another_clinics_index_is_never_searched(radiologist, tenant, other_tenant, index):
    theirs = build_index(other_tenant)

    everything = found(radiologist, tenant, "", Level.INSTANCE)
    by_uid = found(radiologist, tenant, f"StudyInstanceUID={theirs.head.study_instance_uid}")

    assert everything == uids(*index.instances)
    assert by_uid == set()


@pytest.mark.parametrize("role", [Role.REFERRING_PHYSICIAN, Role.AUDITOR])
def test_members_who_see_no_study_find_nothing_at_any_level(member_factory, tenant, index, role):
    user = member_factory(tenant, role)

    for level in (Level.STUDY, Level.SERIES, Level.INSTANCE):
        assert found(user, tenant, "", level) == set()


def test_billing_sees_the_study_list(member_factory, tenant, index):
    assert found(member_factory(tenant, Role.BILLING), tenant, "") == uids(
        index.head, index.chest, index.knee
    )


def test_a_patient_finds_only_their_own_studies(member_factory, tenant, index):
    patient = member_factory(tenant, Role.PATIENT)
    with tenant_scope(tenant):
        index.knee.patient.account = patient
        index.knee.patient.save()

    assert found(patient, tenant, "") == uids(index.knee)
    assert found(patient, tenant, "", Level.INSTANCE) == uids(index.instances[4])
