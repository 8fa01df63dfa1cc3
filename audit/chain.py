"""Tamper evidence: every audit event is a link of its tenant's hash chain.

An event's hash is SHA-256 over a canonical encoding of its content and the previous event's hash,
and the events of a chain are numbered 1, 2, 3 … without gaps. Editing an event breaks its hash,
deleting one leaves a gap or a broken link, and cutting off the tail is caught by the signed
checkpoints (audit.checkpoints). Writers of one chain are serialised by a row lock on its head, held
until their transaction ends, so two requests never take the same number.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections, router, transaction

from audit.models import AuditChainHead, AuditEvent

PLATFORM_CHAIN = "platform"
GENESIS_HASH = "0" * 64
_SOURCE_ADDRESS = AuditEvent._meta.get_field("source_address")


def chain_of(tenant_id: int | None) -> str:
    """Events of a tenant chain per tenant; events of no tenant (an unknown name's failed sign-in,
    platform administration) chain together."""
    return PLATFORM_CHAIN if tenant_id is None else f"tenant-{tenant_id}"


def event_hash(event: AuditEvent) -> str:
    """The hash of `event`'s content and its previous hash, as stored or about to be stored."""
    content = {
        "chain": event.chain,
        "sequence": event.sequence,
        "previous_hash": event.previous_hash,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "tenant": event.tenant_id,
        "actor": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "outcome": event.outcome,
        "object_type": event.object_type,
        "object_ids": event.object_ids,
        "source_address": event.source_address,
        "user_agent": event.user_agent,
        "session_ref": event.session_ref,
        "details": event.details,
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def append(event: AuditEvent) -> AuditEvent:
    """Number, link and save `event` as the newest link of its tenant's chain."""
    (event,) = append_all([event])
    return event


def append_all(events: list[AuditEvent]) -> list[AuditEvent]:
    """Number, link and save `events`, all of one tenant, in order, under one lock of their chain."""
    if not events:
        return events
    chain = chain_of(events[0].tenant_id)
    if any(chain_of(event.tenant_id) != chain for event in events):
        raise ValueError("append_all takes the events of one chain")
    # Every audited request comes through here, so it speaks SQL through Django's cursor rather than
    # the ORM: building the querysets and running Model.save() twice cost more than the statements
    # themselves (bench/README.md, issue 7). The statements are those the ORM ran: lock the chain's
    # head, insert the event, move the head, all in one transaction.
    alias = router.db_for_write(AuditEvent)
    connection = connections[alias]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        sequence, previous_hash = _lock_head(cursor, chain)
        for event in events:
            event.chain = chain
            # Hashed as the database will give it back (an IPv6 address in its canonical form).
            event.source_address = _SOURCE_ADDRESS.get_prep_value(event.source_address)
            sequence += 1
            event.sequence, event.previous_hash = sequence, previous_hash
            event.hash = previous_hash = event_hash(event)
        if len(events) == 1:
            _insert(cursor, events[0])
        else:
            AuditEvent.objects.using(alias).bulk_create(events)
        cursor.execute(
            "UPDATE audit_auditchainhead SET sequence = %s, hash = %s WHERE chain = %s",
            [sequence, previous_hash, chain],
        )
    return events


_SELECT_HEAD = "SELECT sequence, hash FROM audit_auditchainhead WHERE chain = %s"
_SELECT_HEAD_FOR_UPDATE = "SELECT sequence, hash FROM audit_auditchainhead WHERE chain = %s FOR UPDATE"


def _lock_head(cursor, chain: str) -> tuple[int, str]:
    """The chain's head (its newest sequence and hash), locked until the transaction ends; created
    at the chain's first event."""
    # A row lock on PostgreSQL. SQLite has none and needs none: its transactions are IMMEDIATE
    # (portal/settings.py), so the database's one write lock is taken at BEGIN.
    select = _SELECT_HEAD_FOR_UPDATE if cursor.db.features.has_select_for_update else _SELECT_HEAD
    cursor.execute(select, [chain])
    head = cursor.fetchone()
    if head is None:
        # Another writer may be creating the same head: its insert wins, ours does nothing, and the
        # SELECT below waits for its transaction's lock.
        cursor.execute(
            "INSERT INTO audit_auditchainhead (chain, sequence, hash) VALUES (%s, 0, '') "
            "ON CONFLICT (chain) DO NOTHING",
            [chain],
        )
        cursor.execute(select, [chain])
        head = cursor.fetchone()
    sequence, hash_ = head
    return sequence, hash_ or GENESIS_HASH


# Every column of an event but its id, converted for the database by its field as Model.save() would.
# The statement is built once, from the model's own column names: no value is ever part of it.
_EVENT_FIELDS = [field for field in AuditEvent._meta.concrete_fields if not field.primary_key]
_INSERT_EVENT = (  # RETURNING: PostgreSQL, and SQLite since 3.35
    f"INSERT INTO audit_auditevent ({', '.join(field.column for field in _EVENT_FIELDS)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_EVENT_FIELDS))}) RETURNING id"
)


def _insert(cursor, event: AuditEvent) -> None:
    """INSERT `event` and give it its id, as event.save(force_insert=True) would."""
    connection = cursor.db
    cursor.execute(
        _INSERT_EVENT,
        [field.get_db_prep_save(getattr(event, field.attname), connection) for field in _EVENT_FIELDS],
    )
    (event.pk,) = cursor.fetchone()
    event._state.adding, event._state.db = False, connection.alias


@dataclass(frozen=True)
class Break:
    """The first place a chain does not hold."""

    chain: str
    sequence: int
    reason: str

    def __str__(self) -> str:
        return f"chain {self.chain} is broken at event {self.sequence}: {self.reason}"


@dataclass(frozen=True)
class ChainState:
    chain: str
    events: int
    last_hash: str
    first_break: Break | None


def verify_chain(chain: str, *, after: tuple[int, str] | None = None) -> ChainState:
    """Walk `chain` in order and report its first break. With `after=(sequence, hash)`, start from a
    link already known good (its stored hash must still be `hash`)."""
    expected_sequence, expected_previous = 1, GENESIS_HASH
    events = AuditEvent.objects.filter(chain=chain).order_by("sequence")
    if after is not None:
        known_sequence, known_hash = after
        known = events.filter(sequence=known_sequence).first()
        if known is None or known.hash != known_hash or event_hash(known) != known_hash:
            return ChainState(chain, 0, "", Break(chain, known_sequence, "a checkpointed event was changed"))
        events = events.filter(sequence__gt=known_sequence)
        expected_sequence, expected_previous = known_sequence + 1, known_hash
    count = 0
    for event in _iterate(events):
        problem = _problem(event, expected_sequence, expected_previous)
        if problem:
            return ChainState(chain, count, expected_previous, Break(chain, expected_sequence, problem))
        count += 1
        expected_sequence, expected_previous = event.sequence + 1, event.hash
    return ChainState(chain, count, expected_previous, None)


def _problem(event: AuditEvent, expected_sequence: int, expected_previous: str) -> str:
    if event.sequence != expected_sequence:
        return f"events {expected_sequence} to {event.sequence - 1} are missing"
    if event.previous_hash != expected_previous:
        return "it does not link to the event before it"
    if event_hash(event) != event.hash:
        return "its content does not match its hash (the event was changed)"
    return ""


def _iterate(events) -> Iterator[AuditEvent]:
    # Bounded memory on a long chain: the rows are read in pages by primary-key order of sequence.
    yield from events.iterator(chunk_size=2000)


def chains() -> list[str]:
    """Every chain that has events or a head."""
    heads = set(AuditChainHead.objects.values_list("chain", flat=True))
    return sorted(heads | set(AuditEvent.objects.values_list("chain", flat=True).distinct()))
