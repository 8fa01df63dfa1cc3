"""Running the rules (audit.alerts.rules) over a chain's events: the sliding window of each rule and
subject, and the decision to raise an alert, extend one, or leave things be."""

from collections import Counter, deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from audit.alerts.models import Alert, AlertRules
from audit.alerts.rules import RULES, Observation, Rule, StudyIndex
from audit.models import AuditEvent

# Identifiers kept on an alert per kind of fact, at most this many of each.
_FACTS_KEPT = 50


class _Window:
    """A subject's observations over the last window: (time, sequence, value, facts), oldest first."""

    def __init__(self) -> None:
        self.entries: deque[tuple[datetime, int, str, dict[str, str]]] = deque()
        self.values: Counter[str] = Counter()

    def add(self, moment: datetime, sequence: int, observation: Observation, since: datetime) -> None:
        self.entries.append((moment, sequence, observation.value, observation.facts))
        self.values[observation.value] += 1
        while self.entries and self.entries[0][0] < since:
            _, _, old, _ = self.entries.popleft()
            self.values[old] -= 1
            if not self.values[old]:
                del self.values[old]

    @property
    def measure(self) -> int:
        return len(self.values)

    @property
    def events(self) -> int:
        return len({sequence for _, sequence, _, _ in self.entries})


def _add_facts(details: dict, facts: dict[str, str]) -> None:
    for name, value in facts.items():
        kept = details.setdefault(name, [])
        if value not in kept and len(kept) < _FACTS_KEPT:
            kept.append(value)


class Evaluation:
    """The rules run over the events of one chain. Feed it the events before the ones to examine (the
    lookback, so that windows start full) with `examine=False`, then the new ones; `raised` and
    `extended` then hold the alerts to create and to save."""

    def __init__(
        self,
        *,
        chain: str,
        tenant,
        rules: AlertRules,
        studies: StudyIndex,
        open_alerts: Iterable[Alert] = (),
        only: Iterable[Rule] = RULES,
        find_alert: Callable[..., Alert | None],
    ) -> None:
        self.chain, self.tenant, self.rules, self.studies = chain, tenant, rules, studies
        self.active = [rule for rule in only if rule.enabled(rules)]
        self._windows: dict[tuple[str, str], _Window] = {}
        self._open: dict[tuple[str, str], Alert] = {}
        for alert in sorted(open_alerts, key=lambda alert: alert.last_event_at):
            self._open[(alert.kind, alert.subject_key)] = alert
        self._find_alert = find_alert
        self.raised: list[Alert] = []
        self.extended: dict[int, Alert] = {}

    def feed(self, event: AuditEvent, *, examine: bool) -> None:
        for rule in self.active:
            if event.action not in rule.actions:
                continue
            for observation in rule.observe(event, self.rules, self.studies):
                self._observe(rule, observation, event, examine)

    def _observe(self, rule: Rule, observation: Observation, event: AuditEvent, examine: bool) -> None:
        subject = observation.subject
        window = self._windows.setdefault((rule.kind, subject.key), _Window())
        window.add(
            event.occurred_at, event.sequence, observation, event.occurred_at - rule.window(self.rules)
        )
        if not examine:
            return
        if rule.dedupe == "event":
            if (
                self._find_alert(kind=rule.kind, subject_key=subject.key, first_sequence=event.sequence)
                is None
            ):
                self._raise(rule, observation, event, window)
            return
        if rule.dedupe == "subject":
            existing = self._open.get((rule.kind, subject.key)) or self._find_alert(
                kind=rule.kind, subject_key=subject.key
            )
            if existing is None:
                self._raise(rule, observation, event, window)
            elif existing.is_open and not existing.covers(event.sequence):
                self._extend(existing, observation, event)
            return
        existing = self._open.get((rule.kind, subject.key))
        if (
            existing is not None
            and existing.is_open
            and existing.is_within(rule.window(self.rules), event.occurred_at)
        ):
            self._extend(existing, observation, event)
        elif window.measure >= rule.threshold(self.rules):
            self._raise(rule, observation, event, window)

    def _raise(self, rule: Rule, observation: Observation, event: AuditEvent, window: _Window) -> None:
        earliest = window.entries[0][0] if rule.dedupe == "window" else event.occurred_at
        alert = Alert(
            tenant=self.tenant,
            chain=self.chain,
            kind=rule.kind,
            severity=rule.severity,
            summary=rule.summary(observation.subject, window.measure, self.rules)[:200],
            subject_key=observation.subject.key,
            subject_user_id=observation.subject.user_id,
            first_sequence=event.sequence,
            last_sequence=event.sequence,
            first_event_at=earliest,
            last_event_at=event.occurred_at,
            count=window.events if rule.dedupe == "window" else 1,
            details={
                "threshold": rule.threshold(self.rules),
                "window_minutes": _window_minutes(rule, self.rules),
            }
            if rule.dedupe == "window"
            else {},
        )
        # A burst's alert names what the whole window saw, not only the observation that tipped it.
        seen = [facts for *_, facts in window.entries] if rule.dedupe == "window" else [observation.facts]
        for facts in seen:
            _add_facts(alert.details, facts)
        self.raised.append(alert)
        self._open[(rule.kind, observation.subject.key)] = alert

    def _extend(self, alert: Alert, observation: Observation, event: AuditEvent) -> None:
        if alert.last_sequence != event.sequence:
            alert.count += 1
        alert.last_sequence = max(alert.last_sequence, event.sequence)
        alert.last_event_at = max(alert.last_event_at, event.occurred_at)
        _add_facts(alert.details, observation.facts)
        if alert.pk is not None:
            self.extended[alert.pk] = alert


def _window_minutes(rule: Rule, rules: AlertRules) -> int:
    return int(rule.window(rules).total_seconds() // 60)


def relevant_actions(rules_in_force: Iterable[Rule]) -> set[str]:
    return {action for rule in rules_in_force for action in rule.actions}


def longest_window(rules_in_force: Iterable[Rule], rules: AlertRules) -> timedelta:
    return max((rule.window(rules) for rule in rules_in_force), default=timedelta(0))
