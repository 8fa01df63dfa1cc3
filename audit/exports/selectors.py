"""The audit events an export reads: one clinic's chain, oldest first, filtered by time and action."""

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from audit.chain import chain_of
from audit.models import AuditAction, AuditEvent
from portal.models import Tenant


class ExportFilterError(ValueError):
    """A filter that cannot be read; the message names the parameter and says why."""


@dataclass(frozen=True)
class ExportFilter:
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    actions: tuple[str, ...] = ()

    def as_details(self) -> dict:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "actions": list(self.actions),
        }


def parse_instant(name: str, value: str) -> datetime.datetime:
    """An ISO 8601 date-time (UTC when it names no offset) or date (its start, 00:00 UTC)."""
    text = value.strip()
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            if day is not None:
                moment = datetime.datetime.combine(day, datetime.time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise ExportFilterError(f"{name}: {value!r} is not an ISO 8601 date or date-time.")
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def parse_actions(name: str, values: list[str]) -> tuple[str, ...]:
    """Action names (AuditAction values), each given alone or comma-separated."""
    actions = [part.strip() for value in values for part in value.split(",") if part.strip()]
    unknown = sorted(set(actions) - set(AuditAction.values))
    if unknown:
        raise ExportFilterError(f"{name}: unknown action(s) {', '.join(unknown)}.")
    return tuple(dict.fromkeys(actions))


def export_filter(since: str | None, until: str | None, actions: list[str]) -> ExportFilter:
    parsed = ExportFilter(
        since=parse_instant("since", since) if since else None,
        until=parse_instant("until", until) if until else None,
        actions=parse_actions("action", actions),
    )
    if parsed.since and parsed.until and parsed.since >= parsed.until:
        raise ExportFilterError("since must be before until.")
    return parsed


def events_for_export(tenant: Tenant, selected: ExportFilter) -> QuerySet[AuditEvent]:
    """`tenant`'s events, in chain order, recorded at `since` or later and before `until`."""
    events = AuditEvent.objects.filter(chain=chain_of(tenant.pk)).order_by("sequence")
    if selected.since is not None:
        events = events.filter(occurred_at__gte=selected.since)
    if selected.until is not None:
        events = events.filter(occurred_at__lt=selected.until)
    if selected.actions:
        events = events.filter(action__in=selected.actions)
    return events
