"""The integrity scrub: the ciphertext SHA-256 of every copy of every object, home and replicas,
checked without decrypting (no key is opened), and with repair, a missing or corrupt copy rewritten
from a good one.

A tenant's objects are visited in primary-key order from its ScrubCursor, which is saved as the scrub
goes: a scrub stopped by its limit, a signal or a dead worker continues where it was, and a pass that
reaches the last object starts over next time. Objects stored during a pass with a key below the cursor
wait for the next pass. Findings name object ids and regions only, never PHI.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

import audit
from audit.models import AuditAction, Outcome
from imaging import storage
from imaging.models import StoredObject
from imaging.replication import services
from imaging.replication.models import ObjectCopy, ScrubCursor
from portal.models import Tenant

logger = logging.getLogger(__name__)

# Objects read from the database at a time, and how often the cursor is saved (a resumed scrub checks
# at most this many objects twice).
_PAGE = 200
# Ids named in one alert event; the scrub's own report (the command's output) lists them all.
_ALERT_IDS = 100


@dataclass(frozen=True)
class Finding:
    """A copy that was not good: `state` is ObjectCopy.State.MISSING or CORRUPT, or "unreadable" when
    its region could not be read at all; `repaired` once a good copy was written in its place."""

    object_id: str
    region: str
    state: str
    repaired: bool = False


@dataclass
class ScrubReport:
    objects: int = 0
    copies: int = 0
    findings: list[Finding] = field(default_factory=list)
    pass_complete: bool = False

    @property
    def repaired(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.repaired]

    @property
    def unrepaired(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.repaired]


class _RateLimit:
    """At most `rate` steps per second on average, without bursts after a pause."""

    def __init__(
        self, rate: float | None, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


def scrub_tenant(
    tenant: Tenant,
    *,
    repair: bool = False,
    rate: float | None = None,
    limit: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ScrubReport:
    """Check (and with `repair`, repair) up to `limit` of the tenant's objects from its cursor, at most
    `rate` objects a second. Call inside the tenant's scope."""
    cursor, _ = ScrubCursor.objects.get_or_create(tenant=tenant)
    if cursor.last_object_id is None:
        cursor.pass_started_at, cursor.pass_finished_at = timezone.now(), None
        cursor.checked = cursor.repaired = cursor.unrepairable = 0
        cursor.save()
    report = ScrubReport()
    throttle = _RateLimit(rate, clock, sleep)
    while limit is None or report.objects < limit:
        page = StoredObject.objects.order_by("pk")
        if cursor.last_object_id is not None:
            page = page.filter(pk__gt=cursor.last_object_id)
        size = _PAGE if limit is None else min(_PAGE, limit - report.objects)
        batch = list(page[:size])
        for stored in batch:
            throttle.wait()
            checked, findings = scrub_object(stored, repair=repair)
            report.objects += 1
            report.copies += checked
            report.findings += findings
            cursor.checked += checked
            cursor.repaired += sum(finding.repaired for finding in findings)
            cursor.unrepairable += sum(not finding.repaired for finding in findings)
            cursor.last_object_id = stored.pk
        if len(batch) < size:
            cursor.last_object_id, cursor.pass_finished_at = None, timezone.now()
            report.pass_complete = True
        cursor.save()
        if report.pass_complete:
            break
    _alert_unrepaired(tenant, report.unrepaired)
    return report


def scrub_object(stored: StoredObject, *, repair: bool) -> tuple[int, list[Finding]]:
    """Check every copy of one object; returns how many copies were checked and the bad ones found.
    Copies still pending are the replication's to make, not the scrub's."""
    replicas = {
        copy.region: copy
        for copy in ObjectCopy.objects.filter(stored_object=stored).exclude(state=ObjectCopy.State.PENDING)
    }
    states = {region: _state_of(stored, region) for region in [stored.region, *replicas]}
    now = timezone.now()
    for region, copy in replicas.items():
        state, digest = states[region]
        if state != "unreadable":
            ObjectCopy.objects.filter(pk=copy.pk).update(
                state=state, ciphertext_sha256=digest, verified_at=now
            )
    good = [region for region, (state, _) in states.items() if state == ObjectCopy.State.OK]
    findings = []
    for region, (state, _) in states.items():
        if state == ObjectCopy.State.OK:
            continue
        repaired = repair and state != "unreadable" and _repair(stored, region, state, good)
        if repaired and region in replicas:
            ObjectCopy.objects.filter(pk=replicas[region].pk).update(
                state=ObjectCopy.State.OK,
                ciphertext_sha256=stored.ciphertext_sha256,
                copied_at=now,
                last_error="",
            )
        findings.append(Finding(str(stored.pk), region, state, repaired))
    return len(states), findings


def _state_of(stored: StoredObject, region: str) -> tuple[str, str]:
    try:
        digest = storage.object_sha256(region, stored.storage_name)
    except Exception as exc:  # a region down: reported, the scrub goes on with the others
        logger.warning("Scrub could not read object %s in %s: %s", stored.pk, region, type(exc).__name__)
        return "unreadable", ""
    if digest is None:
        return ObjectCopy.State.MISSING, ""
    return (ObjectCopy.State.OK if digest == stored.ciphertext_sha256 else ObjectCopy.State.CORRUPT), digest


def _repair(stored: StoredObject, region: str, state: str, good: list[str]) -> bool:
    """Rewrite a missing or corrupt copy from a good one. A good copy is never touched: a corrupt one is
    hashed again just before it is deleted, in case it was repaired meanwhile."""
    if not good:
        return False
    try:
        if state == ObjectCopy.State.CORRUPT:
            if storage.object_sha256(region, stored.storage_name) == stored.ciphertext_sha256:
                return True
            services.assert_residency(stored.tenant, region)
            storage.delete_object(region, stored.storage_name)
        services.copy_from_a_good_copy(stored, region, sources=good)
    except services.ResidencyViolation as violation:
        logger.warning("Scrub refused to repair object %s in %s: %s", stored.pk, region, violation)
        return False
    except Exception as exc:  # reported as not repaired; the next scrub tries again
        logger.warning("Scrub could not repair object %s in %s: %s", stored.pk, region, type(exc).__name__)
        return False
    return True


def _alert_unrepaired(tenant: Tenant, unrepaired: list[Finding]) -> None:
    if not unrepaired:
        return
    audit.record(
        AuditAction.SECURITY_ALERT,
        tenant=tenant,
        outcome=Outcome.FAILURE,
        object_type="stored_object",
        object_ids=sorted({finding.object_id for finding in unrepaired})[:_ALERT_IDS],
        details={
            "alert": "scrub_unrepaired",
            "copies": len(unrepaired),
            "regions": sorted({finding.region for finding in unrepaired}),
        },
    )
