"""Reads of one clinic's audit trail for the review page, its CSV export and the patient's access history.

An event names what it touched by identifiers: `object_ids` (study, series or instance UIDs, patient
IDs, internal IDs), and for a retrieval of instances the study they belong to (`details.study` from
WADO-RS, `details.studies` from DIMSE C-GET/C-MOVE). "Events about a study" looks in all three places.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import NotSupportedError
from django.db.models import BooleanField, F, Func, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from imaging.models import Patient, Study
from portal.models import Tenant


class JsonArrayIncludesAny(Func):
    """True where the JSON array in `column` (or at `key` of the JSON object in `column`) has any of
    `values` as a string element.

    Django's `contains` lookup on a JSONField is PostgreSQL-only, and matching the JSON's text is
    inexact (an element may hold the searched text inside a longer, escaped string), so this compiles
    to each database's own exact test: `?|` on PostgreSQL, `json_each` on SQLite."""

    output_field = BooleanField()

    def __init__(self, column: str, values: Iterable[str], *, key: str | None = None) -> None:
        super().__init__(F(column))
        self.values = list(values)
        self.key = key
        if not self.values:
            raise ValueError("JsonArrayIncludesAny needs at least one value.")

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            f"No JSON array test for {connection.vendor}; Palisade runs on PostgreSQL or SQLite."
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        if self.key is None:
            return f"({column} ?| %s::text[])", [*params, self.values]
        return f"(({column} -> %s) ?| %s::text[])", [*params, self.key, self.values]

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        # Keys are ours (constants of this module), never user input; quoted as a JSON path member.
        path = "$" if self.key is None else f'$."{self.key}"'
        placeholders = ", ".join(["%s"] * len(self.values))
        # Only the compiled column and placeholders are spliced in; every value is a parameter.
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}, %s) AS element "  # noqa: S608
            f"WHERE element.type = 'text' AND element.value IN ({placeholders}))",
            [*params, path, *self.values],
        )


def mentioning(identifiers: Collection[str]) -> Q:
    """Events that name any of `identifiers`: in `object_ids`, or as the study of a retrieval."""
    if not identifiers:
        return Q(pk__in=[])
    identifiers = sorted(set(identifiers))
    return (
        Q(JsonArrayIncludesAny("object_ids", identifiers))
        | Q(details__study__in=identifiers)
        | Q(JsonArrayIncludesAny("details", identifiers, key="studies"))
    )


def events_of(tenant: Tenant) -> QuerySet[AuditEvent]:
    """The clinic's events, newest first. AuditEvent is not a scoped model (events of no clinic exist),
    so this is the one place that narrows the trail to a clinic."""
    return AuditEvent.objects.filter(tenant=tenant).select_related("actor").order_by("-occurred_at", "-id")


@dataclass(frozen=True)
class EventFilter:
    """What the reviewer asked for. Every field is optional; empty ones do not narrow."""

    user_email: str = ""
    patient_id: str = ""
    study_uid: str = ""
    action: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None
    upto: int | None = None  # an AuditEvent id: nothing newer


def newest_event_id(tenant: Tenant) -> int:
    """The id of the clinic's newest event (0 before the first)."""
    return events_of(tenant).aggregate(newest=Max("id"))["newest"] or 0


def patient_identifiers(patient_id: str) -> set[str]:
    """The Patient ID and the UIDs of every study of the patients of the clinic with that ID (one per
    issuer). The ID itself counts even when no such patient is indexed any more. Call in the clinic's
    scope."""
    uids = Study.objects.filter(patient__in=Patient.objects.filter(patient_id=patient_id)).values_list(
        "study_instance_uid", flat=True
    )
    return {patient_id, *uids}


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered_events(tenant: Tenant, wanted: EventFilter) -> QuerySet[AuditEvent]:
    """The clinic's events that match `wanted`, newest first. Call in the clinic's scope (a patient
    filter reads the clinic's index); the query it returns reads the audit table only."""
    events = events_of(tenant)
    if wanted.user_email:
        events = events.filter(actor__email__iexact=wanted.user_email)
    if wanted.patient_id:
        events = events.filter(mentioning(patient_identifiers(wanted.patient_id)))
    if wanted.study_uid:
        events = events.filter(mentioning({wanted.study_uid}))
    if wanted.action:
        events = events.filter(action=wanted.action)
    if wanted.outcome:
        events = events.filter(outcome=wanted.outcome)
    if wanted.since is not None:
        events = events.filter(occurred_at__gte=_start_of(wanted.since))
    if wanted.until is not None:
        events = events.filter(occurred_at__lt=_start_of(wanted.until + timedelta(days=1)))
    if wanted.upto is not None:
        events = events.filter(id__lte=wanted.upto)
    return events


def filter_for_audit(wanted: EventFilter) -> dict:
    """The filter as the AUDIT_VIEWED or AUDIT_EXPORTED event keeps it: identifiers only. The user is
    kept by account ID, not by e-mail address; a Patient ID and a Study UID are identifiers already."""
    kept: dict = {}
    if wanted.user_email:
        user = User.objects.filter(email__iexact=wanted.user_email).only("pk").first()
        kept["user"] = str(user.pk) if user is not None else None
    for name in ("patient_id", "study_uid", "action", "outcome"):
        if getattr(wanted, name):
            kept[name] = getattr(wanted, name)
    for name in ("since", "until"):
        if getattr(wanted, name) is not None:
            kept[name] = getattr(wanted, name).isoformat()
    return kept


def filter_object_ids(wanted: EventFilter) -> list[str]:
    """The patient and study the reviewer looked up, so that reading a patient's trail is found by
    searching the trail for that patient."""
    return [value for value in (wanted.patient_id, wanted.study_uid) if value]
