"""Running the alert rules over the audit stream, raising and acknowledging alerts.

The stream: a periodic task (audit.alerts.tasks.evaluate_alert_rules) walks each audit chain from its
cursor, the last sequence examined, in batches. The rules run over a batch without any lock; then one
short transaction takes the cursor's row lock, checks that nobody moved it meanwhile, writes the
alerts raised or extended and moves the cursor. So an event is examined exactly once even with
several workers, and a crash examines the batch again from scratch. A chain's events become visible
in sequence order (audit.chain serialises its writers until they commit), so nothing below the cursor
can appear later.

Immediately: break-the-glass and a broken audit chain raise their alert in the transaction that records
their event (`raise_for_event`); the stream then finds it already raised.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

import audit
from audit.alerts import rules as alert_rules
from audit.alerts.evaluation import Evaluation, longest_window, relevant_actions
from audit.alerts.models import Alert, AlertCursor, AlertKind, AlertRules, DeliveryStatus
from audit.chain import PLATFORM_CHAIN, Break
from audit.models import AuditAction, AuditChainHead, AuditEvent, Outcome
from imaging.models import Study
from portal.models import Tenant
from portal.tenancy import all_tenants_scope, tenant_scope

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Batches of one chain per run: a backlog is worked off over several runs, never in one long lock.
MAX_BATCHES_PER_RUN = 20


def rules_of(tenant: Tenant | None) -> AlertRules:
    """The clinic's (or with None, the platform's) alert rules; the defaults if never saved."""
    found = AlertRules.objects.filter(tenant=tenant).first()
    return found if found is not None else AlertRules(tenant=tenant)


def tenant_of_chain(chain: str) -> Tenant | None:
    if chain == PLATFORM_CHAIN:
        return None
    return Tenant.objects.get(pk=int(chain.removeprefix("tenant-")))


@contextmanager
def scope_of(tenant: Tenant | None) -> Iterator[None]:
    """A clinic's alerts are written in its scope (row-level security checks them); the platform's,
    which belong to no clinic, outside any."""
    if tenant is None:
        with all_tenants_scope():
            yield
    else:
        with tenant_scope(tenant):
            yield


def evaluate_all_chains() -> list[Alert]:
    """Examine what every chain gained since its cursor. Returns the alerts raised."""
    cursors = dict(AlertCursor.objects.values_list("chain", "sequence"))
    raised = []
    for chain, head in AuditChainHead.objects.order_by("chain").values_list("chain", "sequence"):
        if head <= cursors.get(chain, 0):
            continue
        try:
            raised += evaluate_chain(chain)
        except Exception:
            # One chain's trouble must not stop the others being watched; the chain is retried next run.
            logger.exception("Alert rules failed on audit chain %s", chain)
    return raised


def evaluate_chain(chain: str, *, batch_size: int = BATCH_SIZE) -> list[Alert]:
    tenant = tenant_of_chain(chain)
    raised: list[Alert] = []
    for _ in range(MAX_BATCHES_PER_RUN):
        batch_raised, more = _evaluate_batch(chain, tenant, batch_size)
        raised += batch_raised
        if not more:
            break
    return raised


def _evaluate_batch(chain: str, tenant: Tenant | None, batch_size: int) -> tuple[list[Alert], bool]:
    """Examine the next batch of `chain`. Returns the alerts raised, and whether there may be more.

    The rules run on what was read without holding any lock (on SQLite a write transaction stops
    every writer); only the writing takes the cursor's lock, and is given up if another evaluator
    moved the cursor, or an alert to extend was acknowledged, meanwhile."""
    with scope_of(tenant):
        cursor, _ = AlertCursor.objects.get_or_create(chain=chain)
        examined = cursor.sequence
        events = list(_events(chain).filter(sequence__gt=examined).order_by("sequence")[: batch_size + 1])
        more = len(events) > batch_size
        events = events[:batch_size]
        if not events:
            return [], False
        rules = rules_of(tenant)
        in_force = [rule for rule in alert_rules.RULES if rule.enabled(rules)]
        actions = relevant_actions(in_force)
        # Times follow sequence numbers only roughly (an event's time is taken before its chain's lock).
        earliest = min((event.occurred_at for event in events if event.action in actions), default=None)
        since = (earliest or events[0].occurred_at) - longest_window(in_force, rules)
        lookback = list(
            _events(chain)
            .filter(sequence__lte=examined, occurred_at__gte=since, action__in=actions)
            .order_by("sequence")
        )
        evaluation = Evaluation(
            chain=chain,
            tenant=tenant,
            rules=rules,
            studies=_study_index(tenant, lookback + events, in_force),
            open_alerts=Alert.objects.filter(
                chain=chain, acknowledged_at__isnull=True, last_event_at__gte=since
            ),
            find_alert=_alert_finder(chain),
        )
        for event in lookback:
            evaluation.feed(event, examine=False)
        for event in events:
            evaluation.feed(event, examine=True)
        with transaction.atomic():
            cursor = AlertCursor.objects.select_for_update().get(chain=chain)
            if cursor.sequence != examined or _acknowledged_meanwhile(evaluation):
                return [], True
            _save(evaluation, rules)
            cursor.sequence = events[-1].sequence
            cursor.save(update_fields=["sequence", "updated_at"])
    return evaluation.raised, more


def _events(chain: str):
    # What the rules read of an event; not the hashes, the user agent or the session.
    return AuditEvent.objects.filter(chain=chain).defer("user_agent", "session_ref", "previous_hash", "hash")


def _acknowledged_meanwhile(evaluation: Evaluation) -> bool:
    return Alert.objects.filter(pk__in=list(evaluation.extended), acknowledged_at__isnull=False).exists()


def raise_for_event(event: AuditEvent) -> list[Alert]:
    """Raise at once the alerts that `event`, just recorded, calls for (break-the-glass, a broken
    chain). Call in the transaction that recorded it: the alert is then written, or not, with it."""
    tenant = event.tenant
    with scope_of(tenant), transaction.atomic():
        rules = rules_of(tenant)
        evaluation = Evaluation(
            chain=event.chain,
            tenant=tenant,
            rules=rules,
            studies=alert_rules.StudyIndex(),
            only=alert_rules.IMMEDIATE_RULES,
            find_alert=_alert_finder(event.chain),
        )
        evaluation.feed(event, examine=True)
        _save(evaluation, rules)
    return evaluation.raised


def report_chain_break(broken: Break) -> list[Alert]:
    """A chain does not verify (audit.checkpoints, verify_audit_chain): record it in the trail, in
    the broken chain itself, and alert its clinic's privacy officers (or the platform's operators)."""
    tenant = tenant_of_chain(broken.chain)
    with scope_of(tenant), transaction.atomic():
        event = audit.record(
            AuditAction.SECURITY_ALERT,
            tenant=tenant,
            outcome=Outcome.FAILURE,
            object_type="audit_chain",
            object_ids=[broken.chain],
            details={"alert": "audit_chain_broken", "sequence": broken.sequence, "reason": broken.reason},
        )
        return raise_for_event(event)


def _alert_finder(chain: str):
    def find(**lookup) -> Alert | None:
        return Alert.objects.filter(chain=chain, **lookup).order_by("-last_event_at").first()

    return find


def _study_index(tenant: Tenant | None, events: list[AuditEvent], in_force) -> alert_rules.StudyIndex:
    if tenant is None or not any(rule.needs_studies() for rule in in_force):
        return alert_rules.StudyIndex()
    uids = sorted({uid for event in events for uid in alert_rules.studies_of(event)})
    facts = {}
    for start in range(0, len(uids), 500):
        rows = Study.objects.filter(study_instance_uid__in=uids[start : start + 500]).values_list(
            "study_instance_uid", "patient_id", "patient__is_restricted"
        )
        for uid, patient_id, restricted in rows:
            facts[uid] = alert_rules.StudyFacts(patient_id, restricted)
    return alert_rules.StudyIndex(facts)


def _save(evaluation: Evaluation, rules: AlertRules) -> None:
    for alert in evaluation.extended.values():
        alert.save(update_fields=["count", "last_sequence", "last_event_at", "details"])
    for alert in evaluation.raised:
        _raise(alert, rules)


def _raise(alert: Alert, rules: AlertRules) -> None:
    from audit.alerts import delivery

    alert.email_status = (
        DeliveryStatus.PENDING
        if rules.email_enabled and delivery.recipients(alert)
        else DeliveryStatus.NOT_CONFIGURED
    )
    alert.webhook_status = DeliveryStatus.PENDING if rules.webhook_url else DeliveryStatus.NOT_CONFIGURED
    alert.save(force_insert=True)
    audit.record(
        AuditAction.ALERT_RAISED,
        tenant=alert.tenant,
        object_type="alert",
        object_ids=[str(alert.pk)],
        details={
            "kind": alert.kind,
            "severity": alert.severity,
            "subject": alert.subject_key,
            "sequence": alert.first_sequence,
        },
    )
    logger.warning("Alert #%s raised: %s (%s)", alert.pk, alert.get_kind_display(), alert.chain)
    alert_id = alert.pk
    transaction.on_commit(lambda: delivery.queue(alert_id))


def acknowledge(alert: Alert, *, by, request=None, actor_role: str = "") -> bool:
    """Mark `alert` as seen and dealt with. False if it already was."""
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=by
        )
        if not updated:
            return False
        audit.record(
            AuditAction.ALERT_ACKNOWLEDGED,
            request=request,
            actor=by,
            tenant=alert.tenant,
            actor_role=actor_role,
            object_type="alert",
            object_ids=[str(alert.pk)],
            details={"kind": alert.kind},
        )
    alert.refresh_from_db()
    return True


def break_glass_grant_ids(alerts: list[Alert]) -> list[int]:
    return [
        int(grant)
        for alert in alerts
        if alert.kind == AlertKind.BREAK_GLASS
        for grant in alert.details.get("grants", [])
    ]


def save_rules(rules: AlertRules, changed: list[str], *, new_secret: bool, request, actor_role: str) -> None:
    """Save a clinic's alert rules as its admin changed them, in the audit trail (field names only)."""
    from audit.alerts.models import new_webhook_secret

    if new_secret or (rules.webhook_url and not rules.webhook_secret):
        rules.webhook_secret = new_webhook_secret()
        changed = [*changed, "webhook_secret"]
    with transaction.atomic():
        operation = "change" if rules.pk else "add"
        rules.save()
        audit.record(
            AuditAction.ADMIN_CHANGE,
            request=request,
            tenant=rules.tenant,
            actor_role=actor_role,
            object_type="alerts.alertrules",
            object_ids=[str(rules.pk)],
            details={"operation": operation, "fields": sorted(set(changed))},
        )
