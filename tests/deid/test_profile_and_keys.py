"""Profiles name the Annex E options as DESIGN.md spells them; project keys give stable, unlinkable
pseudonyms."""

from __future__ import annotations

import re

import pytest

from imaging.deid import Option, Profile, ProjectKeys, SafePrivate

# PS3.16 CID 7050, read off the standard rather than the code under test.
CID_7050 = {
    "clean-pixel-data": ("113101", "Clean Pixel Data Option"),
    "clean-graphics": ("113103", "Clean Graphics Option"),
    "clean-structured-content": ("113104", "Clean Structured Content Option"),
    "clean-descriptors": ("113105", "Clean Descriptors Option"),
    "retain-long-full-dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain-long-modified-dates": (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    "retain-patient-characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain-device-identity": ("113109", "Retain Device Identity Option"),
    "retain-uids": ("113110", "Retain UIDs Option"),
    "retain-safe-private": ("113111", "Retain Safe Private Option"),
    "retain-institution-identity": ("113112", "Retain Institution Identity Option"),
}


@pytest.mark.parametrize("name", sorted(CID_7050))
def test_each_option_has_its_cid_7050_code_and_label(name):
    assert (Option(name).code, Option(name).label) == CID_7050[name]


def test_every_option_column_of_the_table_is_an_option():
    from tests.deid.annex_e_check import TABLE

    assert set(TABLE["options"]) == {o.value for o in Option} - {"clean-pixel-data"}


def test_an_unknown_option_name_is_refused_with_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown de-identification option 'retain-everything'.*retain-uids"
    ):
        Profile.from_names(["retain-uids", "retain-everything"])


def test_full_and_modified_dates_cannot_be_combined():
    with pytest.raises(
        ValueError, match="retain-long-full-dates and retain-long-modified-dates cannot be combined"
    ):
        Profile.from_names(["retain-long-modified-dates", "retain-long-full-dates"])


def test_names_and_method_description():
    profile = Profile.from_names(["retain-uids", "clean-descriptors"])
    assert profile.names() == ["clean-descriptors", "retain-uids"]
    assert profile.method_description() == (
        "DICOM PS3.15 2024b Annex E: Basic Application Confidentiality Profile; "
        "Clean Descriptors Option; Retain UIDs Option"
    )


@pytest.mark.parametrize(
    ("creator", "group", "element"), [("X", 0x0008, 0x01), ("X", 0x0009, 0x100), ("  ", 0x0009, 0x01)]
)
def test_a_safe_private_attribute_must_name_a_private_group_offset_and_creator(creator, group, element):
    with pytest.raises(ValueError):
        SafePrivate(creator, group, element)


def test_a_project_key_needs_32_bytes_and_never_shows_in_repr():
    with pytest.raises(ValueError):
        ProjectKeys(b"short")
    keys = ProjectKeys.generate()
    assert len(keys.secret) >= 32 and keys.secret.hex() not in repr(keys)


def test_uids_are_2_25_uids_derived_from_the_key_and_the_original():
    keys = ProjectKeys(b"a" * 32)
    uid = keys.uid("1.2.3.4")
    assert re.fullmatch(r"2\.25\.(0|[1-9]\d*)", uid) and len(uid) <= 64
    assert int(uid[5:]) < 2**128
    assert uid == ProjectKeys(b"a" * 32).uid("1.2.3.4")
    assert uid != keys.uid("1.2.3.5") and uid != ProjectKeys(b"b" * 32).uid("1.2.3.4")


def test_patient_pseudonyms_and_date_offsets_are_per_patient_and_per_key():
    keys, other = ProjectKeys(b"a" * 32), ProjectKeys(b"b" * 32)
    assert keys.patient_id("P1") == keys.patient_id("P1") != keys.patient_id("P2")
    assert keys.patient_id("P1") != other.patient_id("P1")
    assert keys.patient_id("P1") in keys.patient_name("P1") and "P1" not in keys.patient_name("P1")
    assert len(keys.patient_id("P1")) <= 64  # LO
    offsets = {keys.date_offset_days(f"P{i}") for i in range(200)}
    assert all(-3650 <= o <= -1 for o in offsets) and len(offsets) > 150
    assert keys.date_offset_days("P1") == ProjectKeys(b"a" * 32).date_offset_days("P1")
