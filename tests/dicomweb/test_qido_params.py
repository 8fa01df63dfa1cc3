"""QIDO-RS query parameters → QueryCriteria (imaging.dicomweb.qido_params), without a database."""

import datetime

import pytest
from django.http import QueryDict

from imaging.dicomweb.qido_params import parse_query
from imaging.query import AnyOf, CriteriaError, FuzzyName, Level, Range, SingleValue, Wildcard

PATIENT_NAME, STUDY_DATE, STUDY_TIME, STUDY_UID = 0x00100010, 0x00080020, 0x00080030, 0x0020000D
STUDY_DESCRIPTION, BODY_PART, SERIES_UID = 0x00081030, 0x00180015, 0x0020000E


def parse(query: str, level: Level = Level.STUDY, path: dict | None = None):
    return parse_query(QueryDict(query), level, path or {})


def test_keywords_and_tags_name_the_same_key():
    assert parse("PatientName=Doe*").criteria.matches == parse("00100010=Doe*").criteria.matches


def test_values_become_the_matchers_of_ps3_4():
    matches = parse(
        "PatientID=PID1&AccessionNumber=A*&StudyDate=20200101-&StudyTime=-1200&StudyInstanceUID=1.2,1.3"
    ).criteria.matches

    assert matches[0x00100020] == SingleValue("PID1")
    assert matches[0x00080050] == Wildcard("A*")
    assert matches[STUDY_DATE] == Range(datetime.date(2020, 1, 1), None)
    assert matches[STUDY_TIME] == Range(None, datetime.time(12, 0, 59, 999_999))
    assert matches[STUDY_UID] == AnyOf(("1.2", "1.3"))


def test_fuzzy_matching_splits_a_name_into_words():
    criteria = parse("PatientName=doe^ja&fuzzymatching=true").criteria

    assert criteria.matches[PATIENT_NAME] == FuzzyName(("doe", "ja"))


def test_an_empty_value_or_a_lone_star_asks_only_for_the_attribute():
    criteria = parse("PatientName=&AccessionNumber=*&BodyPartExamined=", Level.SERIES).criteria

    assert criteria.matches == {}
    assert {PATIENT_NAME, 0x00080050, BODY_PART} <= criteria.return_tags


def test_includefield_as_comma_list_repeated_or_all():
    listed = parse("includefield=00180015,IssuerOfPatientID", Level.SERIES).criteria.return_tags
    repeated = parse(
        "includefield=00180015&includefield=IssuerOfPatientID", Level.SERIES
    ).criteria.return_tags
    everything = parse("includefield=all", Level.SERIES).criteria.return_tags

    assert {BODY_PART, 0x00100021} <= listed
    assert listed == repeated
    assert {BODY_PART, 0x00100021, STUDY_DESCRIPTION} <= everything


def test_includefield_of_attributes_the_index_does_not_hold_is_ignored():
    assert parse("includefield=00280100,NotAKeyword").criteria.return_tags == parse("").criteria.return_tags


def test_flat_series_return_study_attributes_nested_series_do_not():
    flat = parse("", Level.SERIES).criteria.return_tags
    nested = parse("", Level.SERIES, {Level.STUDY: "1.2"}).criteria.return_tags

    assert {PATIENT_NAME, STUDY_DATE, SERIES_UID, 0x00201209} <= flat
    assert PATIENT_NAME not in nested and {STUDY_UID, SERIES_UID, 0x00201209} <= nested


def test_path_uids_become_uid_matches():
    criteria = parse("", Level.INSTANCE, {Level.STUDY: "1.2", Level.SERIES: "1.2.3"}).criteria

    assert criteria.matches == {STUDY_UID: AnyOf(("1.2",)), SERIES_UID: AnyOf(("1.2.3",))}


def test_limit_and_offset():
    query = parse("limit=10&offset=20")

    assert (query.limit, query.offset) == (10, 20)
    assert (parse("").limit, parse("").offset) == (None, 0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("Nonsense=1", "Unknown query parameter 'Nonsense'"),
        ("00400275.00401001=X", "Unknown query parameter"),
        ("BitsAllocated=16", "'BitsAllocated' is not supported"),
        ("Modality=CT", "'Modality' is a series attribute; it cannot be matched in a study query"),
        ("NumberOfStudyRelatedSeries=2", "NumberOfStudyRelatedSeries (00201206) is a return key only"),
        ("StudyDate=2020", "StudyDate (00080020) takes a date or a date range"),
        ("StudyDate=20201301", "StudyDate (00080020) takes a date"),
        ("StudyDate=-", "a range needs at least one bound"),
        ("StudyTime=25", "StudyTime (00080030) takes a time"),
        ("StudyInstanceUID=1.2.x", "takes UIDs"),
        ("PatientID=A&PatientID=B", "'PatientID' is given more than once"),
        ("limit=-1", "limit takes a non-negative integer"),
        ("offset=ten", "offset takes a non-negative integer"),
        ("fuzzymatching=yes", "fuzzymatching takes true or false"),
    ],
)
def test_keys_and_values_that_cannot_be_matched_are_refused_by_name(query, message):
    with pytest.raises(CriteriaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(query)


def test_refusals_never_quote_the_value():
    with pytest.raises(CriteriaError) as refused:
        parse("PatientBirthDate=Jane-Doe")

    assert "Jane" not in str(refused.value)
