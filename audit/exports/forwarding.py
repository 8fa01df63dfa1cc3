"""Forward every audit chain to the syslog collector, in order, without losing an event.

Each chain has a durable cursor (audit.models.SyslogCursor): the sequence of its last event sent.
A run sends the events after it, a batch per TLS connection, and moves the cursor only once a batch
was written whole (audit.exports.syslog.send). A collector that is down leaves the cursor where it
was and the error on it; the next run (beat, or the task's retry) sends the same events again, so
delivery is at least once. A short lease on the cursor row keeps two workers off one chain without
holding a database transaction open during network I/O, which on the embedded SQLite database would
block every writer.
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from audit.chain import PLATFORM_CHAIN, chains
from audit.exports import dicom_xml, syslog
from audit.exports.syslog import Collector
from audit.models import AuditEvent, SyslogCursor
from portal.models import Tenant
from portal.tenancy import tenant_scope

BATCH_SIZE = 200
# Longer than a batch can take (a connection, BATCH_SIZE messages, a shutdown, each bounded by the
# collector's timeout); a worker killed mid-batch holds its chain no longer than this.
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Forwarded:
    chain: str
    sent: int
    cursor: int


def forward_pending(collector: Collector | None = None, *, time_budget: float = 50.0) -> list[Forwarded]:
    """Send what each chain has after its cursor. Does nothing without a configured collector.
    Raises OSError when the collector cannot be reached (the chains not reached yet wait for the
    next run)."""
    collector = collector or syslog.configured_collector()
    if collector is None:
        return []
    deadline = time.monotonic() + time_budget
    results = []
    for chain in chains():
        forwarded = forward_chain(chain, collector, deadline=deadline)
        if forwarded is not None:
            results.append(forwarded)
        if time.monotonic() > deadline:
            break
    return results


def _claim(chain: str) -> bool:
    SyslogCursor.objects.get_or_create(chain=chain)
    now = timezone.now()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    return SyslogCursor.objects.filter(free, chain=chain).update(leased_until=now + LEASE) == 1


def forward_chain(chain: str, collector: Collector, *, deadline: float | None = None) -> Forwarded | None:
    """Send `chain`'s events after its cursor, a batch at a time, until none is left or `deadline`
    (time.monotonic()) has passed. None when another worker holds the chain."""
    if not _claim(chain):
        return None
    cursor = SyslogCursor.objects.get(chain=chain).sequence
    tenant = _tenant_of(chain)
    sent = 0
    try:
        while True:
            batch = list(
                AuditEvent.objects.filter(chain=chain, sequence__gt=cursor).order_by("sequence")[:BATCH_SIZE]
            )
            if not batch:
                break
            syslog.send(collector, _messages(batch, tenant))
            cursor, sent = batch[-1].sequence, sent + len(batch)
            # Moved only now that the collector has the whole batch; the lease is renewed with it.
            now = timezone.now()
            SyslogCursor.objects.filter(chain=chain).update(
                sequence=cursor, sent_at=now, last_error="", leased_until=now + LEASE
            )
            if deadline is not None and time.monotonic() > deadline:
                break
    except OSError as error:
        SyslogCursor.objects.filter(chain=chain).update(leased_until=None, last_error=_describe(error))
        raise
    SyslogCursor.objects.filter(chain=chain).update(leased_until=None)
    return Forwarded(chain, sent, cursor)


def _describe(error: OSError) -> str:
    # The kind of failure and the system's words for it (no event content is in either).
    return f"{type(error).__name__}: {error}"[:200]


def _tenant_of(chain: str) -> Tenant | None:
    if chain == PLATFORM_CHAIN:
        return None
    return Tenant.objects.get(pk=int(chain.removeprefix("tenant-")))


def _messages(batch: list[AuditEvent], tenant: Tenant | None) -> list[bytes]:
    if tenant is None:
        # Events of no clinic name no clinic's studies; nothing is looked up in any index.
        payloads = dicom_xml.audit_messages(batch, None, resolve=False)
    else:
        with tenant_scope(tenant):
            payloads = dicom_xml.audit_messages(batch, tenant)
    return [
        syslog.syslog_message(payload, event.occurred_at)
        for payload, event in zip(payloads, batch, strict=True)
    ]
