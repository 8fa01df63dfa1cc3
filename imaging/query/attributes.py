"""The attributes the index can match and return, per query level (PS3.4 C.6.1 Patient Root and C.6.2
Study Root; PS3.18 10.6).

Each attribute names the index column that holds it, as an ORM path from the model of its own level.
Patient attributes are of the patient level, which only Patient Root queries search; a query at any
lower level matches and returns them too, as the Study Root model puts them at study level (PS3.4
C.6.2.1). Attributes the index does not hold (Timezone Offset From UTC, Performed Procedure Step Start
Date/Time, Bits Allocated, ...) are absent: they can be neither matched nor returned.
"""

from dataclasses import dataclass
from enum import IntEnum

from pydicom.datadict import keyword_for_tag


class Level(IntEnum):
    """Query/retrieve levels, ordered from the top of the hierarchy."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


# The ORM path from each level's model up to the model of a higher level.
_PATH_TO = {
    (Level.PATIENT, Level.PATIENT): "",
    (Level.STUDY, Level.PATIENT): "patient__",
    (Level.SERIES, Level.PATIENT): "study__patient__",
    (Level.INSTANCE, Level.PATIENT): "series__study__patient__",
    (Level.STUDY, Level.STUDY): "",
    (Level.SERIES, Level.STUDY): "study__",
    (Level.SERIES, Level.SERIES): "",
    (Level.INSTANCE, Level.STUDY): "series__study__",
    (Level.INSTANCE, Level.SERIES): "series__",
    (Level.INSTANCE, Level.INSTANCE): "",
}


@dataclass(frozen=True)
class Attribute:
    tag: int
    vr: str
    level: Level
    column: str
    # Return keys only: counts computed at indexing, and values that are not in any column.
    matchable: bool = True
    # Part of the default response of PS3.18 Tables 10.6.3-3/4/5.
    default: bool = True

    @property
    def keyword(self) -> str:
        return keyword_for_tag(self.tag)

    def path_from(self, level: Level) -> str:
        """The ORM path of this attribute's column from a query at `level` (at or below its own)."""
        return _PATH_TO[(level, self.level)] + self.column


# Not a column: every indexed object is stored, so Instance Availability is always ONLINE. Tables
# 10.6.3-3 and 10.6.3-5 list it at study and instance level; it is listed once, at study level, and
# returned by default at instance level too (default_tags).
INSTANCE_AVAILABILITY = 0x00080056
MODALITIES_IN_STUDY = 0x00080061
PATIENT_ID = 0x00100020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
SOP_INSTANCE_UID = 0x00080018

ATTRIBUTES: dict[int, Attribute] = {
    attribute.tag: attribute
    for attribute in (
        # Patient level (PS3.4 Table C.6-1), returned at study level by QIDO-RS (PS3.18 Table 10.6.3-3).
        Attribute(0x00100010, "PN", Level.PATIENT, "name"),
        Attribute(PATIENT_ID, "LO", Level.PATIENT, "patient_id"),
        Attribute(0x00100021, "LO", Level.PATIENT, "issuer_of_patient_id", default=False),
        Attribute(0x00100030, "DA", Level.PATIENT, "birth_date"),
        Attribute(0x00100040, "CS", Level.PATIENT, "sex"),
        # Study level (PS3.18 Table 10.6.3-3).
        Attribute(0x00080020, "DA", Level.STUDY, "study_date"),
        Attribute(0x00080030, "TM", Level.STUDY, "study_time"),
        Attribute(0x00080050, "SH", Level.STUDY, "accession_number"),
        Attribute(INSTANCE_AVAILABILITY, "CS", Level.STUDY, "", matchable=False),
        # Matched against the modalities of the study's series (see imaging.query.search).
        Attribute(MODALITIES_IN_STUDY, "CS", Level.STUDY, "modalities_in_study"),
        Attribute(0x00080090, "PN", Level.STUDY, "referring_physician_name"),
        # Not in Table 10.6.3-3, but every study list shows it; returning more is allowed (10.6.3.3).
        Attribute(0x00081030, "LO", Level.STUDY, "description"),
        Attribute(STUDY_INSTANCE_UID, "UI", Level.STUDY, "study_instance_uid"),
        Attribute(0x00200010, "SH", Level.STUDY, "study_id"),
        Attribute(0x00201206, "IS", Level.STUDY, "number_of_series", matchable=False),
        Attribute(0x00201208, "IS", Level.STUDY, "number_of_instances", matchable=False),
        # Series level (PS3.18 Table 10.6.3-4).
        Attribute(0x00080060, "CS", Level.SERIES, "modality"),
        Attribute(0x0008103E, "LO", Level.SERIES, "description"),
        Attribute(0x00180015, "CS", Level.SERIES, "body_part_examined", default=False),
        Attribute(SERIES_INSTANCE_UID, "UI", Level.SERIES, "series_instance_uid"),
        Attribute(0x00200011, "IS", Level.SERIES, "series_number"),
        Attribute(0x00201209, "IS", Level.SERIES, "number_of_instances", matchable=False),
        # Instance level (PS3.18 Table 10.6.3-5).
        Attribute(0x00080016, "UI", Level.INSTANCE, "sop_class_uid"),
        Attribute(SOP_INSTANCE_UID, "UI", Level.INSTANCE, "sop_instance_uid"),
        Attribute(0x00200013, "IS", Level.INSTANCE, "instance_number"),
        Attribute(0x00280008, "IS", Level.INSTANCE, "number_of_frames"),
        Attribute(0x00280010, "US", Level.INSTANCE, "rows"),
        Attribute(0x00280011, "US", Level.INSTANCE, "columns"),
    )
}

# Return keys of the patient level alone (PS3.4 Table C.6-1): counted over the patient's studies that
# the caller may see, when a patient-level query runs, so they cannot be reached from another level.
PATIENT_COUNTS: dict[int, Attribute] = {
    attribute.tag: attribute
    for attribute in (
        Attribute(0x00201200, "IS", Level.PATIENT, "related_studies", matchable=False),
        Attribute(0x00201202, "IS", Level.PATIENT, "related_series", matchable=False),
        Attribute(0x00201204, "IS", Level.PATIENT, "related_instances", matchable=False),
    )
}

# The identifying UID of each level below the patient: always returned, so that results can be
# retrieved and audited. A patient has no UID; its Patient ID is a value a person typed.
LEVEL_UIDS = {
    Level.STUDY: STUDY_INSTANCE_UID,
    Level.SERIES: SERIES_INSTANCE_UID,
    Level.INSTANCE: SOP_INSTANCE_UID,
}


def level_uids_up_to(level: Level) -> set[int]:
    return {tag for above, tag in LEVEL_UIDS.items() if above <= level}


def default_tags(level: Level, levels_in_path: set[Level]) -> set[int]:
    """The default return attributes of a query at `level` (PS3.18 10.6.3.3): those of the level, and
    those of each higher level that the resource path does not fix (a flat /series query returns the
    study and patient attributes; /studies/{study}/series does not, the study fixing its patient)."""
    tags = level_uids_up_to(level)
    lowest_fixed = max(levels_in_path, default=None)
    for attribute in ATTRIBUTES.values():
        if attribute.default and (
            attribute.level == level
            or (attribute.level < level and (lowest_fixed is None or attribute.level > lowest_fixed))
        ):
            tags.add(attribute.tag)
    if level == Level.INSTANCE:
        tags.add(INSTANCE_AVAILABILITY)
    return tags


def attributes_up_to(level: Level) -> list[Attribute]:
    """The attributes a query at `level` may match and return: its own and those of the levels above."""
    return [attribute for attribute in ATTRIBUTES.values() if attribute.level <= level]
