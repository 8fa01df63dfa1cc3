"""Searching the index at patient, study, series and instance level, for QIDO-RS and C-FIND alike.

Every search starts from the studies the policy lets the caller see (accounts.policy.visible_studies
for a user, remote_ae_visible_studies for a DIMSE peer): the tenant scope and the policy decide what
exists for the caller; nothing here filters by tenant or role. Results come in index order (the order
objects were first indexed), which keeps `offset` paging stable; PS3.18 and PS3.4 prescribe none.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum

from accounts import policy
from accounts.models import User
from imaging.models import Instance, Patient, Series, Study
from imaging.query.attributes import (
    ATTRIBUTES,
    INSTANCE_AVAILABILITY,
    LEVEL_UIDS,
    MODALITIES_IN_STUDY,
    PATIENT_COUNTS,
    Level,
    level_uids_up_to,
)
from imaging.query.criteria import QueryCriteria
from imaging.query.matching import condition
from portal.models import Tenant

Row = dict[int, Any]


@dataclass(frozen=True)
class QueryPage:
    """One page of results: each row maps attribute tags to plain values (str, int, date, time, list
    of str, or None when the index has no value). `truncated` is True when more results follow.
    `patients` holds the internal IDs of the rows of a patient-level page, in order: what its audit
    event names, a Patient ID being a value of the patient's record."""

    level: Level
    rows: list[Row]
    truncated: bool
    patients: list[int] = field(default_factory=list)

    @property
    def study_uids(self) -> list[str]:
        """The studies the rows expose, once each, in order: what an audit event names."""
        return list(dict.fromkeys(row[LEVEL_UIDS[Level.STUDY]] for row in self.rows))


def search_studies(
    user: User, tenant: Tenant, criteria: QueryCriteria, *, limit: int | None = None, offset: int = 0
) -> QueryPage:
    return _search(user, tenant, criteria, Level.STUDY, limit, offset)


def search_series(
    user: User, tenant: Tenant, criteria: QueryCriteria, *, limit: int | None = None, offset: int = 0
) -> QueryPage:
    return _search(user, tenant, criteria, Level.SERIES, limit, offset)


def search_instances(
    user: User, tenant: Tenant, criteria: QueryCriteria, *, limit: int | None = None, offset: int = 0
) -> QueryPage:
    return _search(user, tenant, criteria, Level.INSTANCE, limit, offset)


def _search(
    user: User, tenant: Tenant, criteria: QueryCriteria, level: Level, limit: int | None, offset: int
) -> QueryPage:
    if criteria.level != level:
        raise ValueError(f"Criteria of level {criteria.level.name} used for a {level.name} search")
    # Study lists show what the caller may list (billing: every study); series and instances only
    # what they may open.
    studies = (
        policy.visible_studies(user, tenant)
        if level == Level.STUDY
        else policy.openable_studies(user, tenant)
    )
    return search(studies, criteria, limit=limit, offset=offset)


def search(
    studies: QuerySet[Study], criteria: QueryCriteria, *, limit: int | None = None, offset: int = 0
) -> QueryPage:
    """Search at `criteria.level` among `studies`, the studies the policy lets the caller see. Call
    inside the tenant's scope."""
    if criteria.level == Level.PATIENT:
        rows, columns = _patients(studies, criteria), _patient_columns(criteria)
    else:
        rows, columns = _matching(studies, criteria), _columns(criteria)
    window = rows.order_by("pk").values("pk", *columns.values())
    # One row more than asked tells whether the page is truncated, without a COUNT of every match.
    fetched = list(window[offset : offset + limit + 1] if limit is not None else window[offset:])
    truncated = limit is not None and len(fetched) > limit
    if truncated:
        fetched = fetched[:limit]
    return QueryPage(
        criteria.level,
        [_row(values, columns, criteria.return_tags) for values in fetched],
        truncated,
        patients=[values["pk"] for values in fetched] if criteria.level == Level.PATIENT else [],
    )


def _matching(studies: QuerySet[Study], criteria: QueryCriteria) -> QuerySet:
    studies = studies.filter(
        _conditions(criteria, Level.PATIENT, Level.STUDY), _conditions(criteria, Level.STUDY, Level.STUDY)
    )
    modalities = criteria.matches.get(MODALITIES_IN_STUDY)
    if modalities is not None:
        # PS3.4 C.6.2.1.2: a study matches when any of its series has a matching modality.
        series = Series.objects.filter(study=OuterRef("pk")).filter(condition("modality", "CS", modalities))
        studies = studies.filter(Exists(series))
    if criteria.level == Level.STUDY:
        return studies
    if criteria.level == Level.SERIES:
        return Series.objects.filter(study__in=studies).filter(
            _conditions(criteria, Level.SERIES, Level.SERIES)
        )
    return Instance.objects.filter(series__study__in=studies).filter(
        _conditions(criteria, Level.SERIES, Level.INSTANCE),
        _conditions(criteria, Level.INSTANCE, Level.INSTANCE),
    )


def _patients(studies: QuerySet[Study], criteria: QueryCriteria) -> QuerySet[Patient]:
    """The patients with at least one of `studies` that match, each with the counts of PS3.4 Table C.6-1
    taken over those studies only: a caller learns nothing of the studies it may not see."""
    related = studies.filter(patient=OuterRef("pk")).order_by().values("patient")
    return (
        Patient.objects.filter(Exists(related))
        .filter(_conditions(criteria, Level.PATIENT, Level.PATIENT))
        .annotate(
            related_studies=Subquery(related.annotate(total=Count("pk")).values("total")),
            related_series=Subquery(related.annotate(total=Sum("number_of_series")).values("total")),
            related_instances=Subquery(related.annotate(total=Sum("number_of_instances")).values("total")),
        )
    )


def _conditions(criteria: QueryCriteria, of_level: Level, from_level: Level) -> Q:
    """The conditions on the attributes of `of_level`, as paths from the model of `from_level`."""
    conditions = Q()
    for tag, matcher in criteria.matches.items():
        attribute = ATTRIBUTES[tag]
        if attribute.level == of_level and tag != MODALITIES_IN_STUDY:
            conditions &= condition(attribute.path_from(from_level), attribute.vr, matcher)
    return conditions


def _columns(criteria: QueryCriteria) -> dict[int, str]:
    """The ORM paths to read, by tag: the return attributes held in columns, and every level's UID."""
    tags = set(criteria.return_tags) | level_uids_up_to(criteria.level)
    return {
        tag: ATTRIBUTES[tag].path_from(criteria.level)
        for tag in sorted(tags)
        if tag in ATTRIBUTES and ATTRIBUTES[tag].column and ATTRIBUTES[tag].level <= criteria.level
    }


def _patient_columns(criteria: QueryCriteria) -> dict[int, str]:
    """The columns (and counts) of the Patient rows to read, by tag."""
    attributes = {**ATTRIBUTES, **PATIENT_COUNTS}
    return {
        tag: attributes[tag].column
        for tag in sorted(criteria.return_tags)
        if tag in attributes and attributes[tag].level == Level.PATIENT
    }


def _row(values: dict[str, Any], columns: dict[int, str], return_tags: frozenset[int]) -> Row:
    row: Row = {tag: values[path] for tag, path in columns.items()}
    if MODALITIES_IN_STUDY in row:
        row[MODALITIES_IN_STUDY] = [m for m in (row[MODALITIES_IN_STUDY] or "").split("\\") if m]
    if INSTANCE_AVAILABILITY in return_tags:
        row[INSTANCE_AVAILABILITY] = "ONLINE"
    return row
