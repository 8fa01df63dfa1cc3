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

import psycopg
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
    before, after = _encoded_around_link(event)
    return _sha256(before + event.previous_hash + _BETWEEN + str(event.sequence) + after)


# The canonical encoding is the JSON of the event's content with sorted keys and no spaces. Its two link
# fields, "previous_hash" and "sequence", sort next to each other and after every other key but four,
# so the encoding is <before>previous_hash<_BETWEEN>sequence<after>: the parts around the link can be
# encoded before the event's place in its chain is known (on PostgreSQL the database fills it in).
_BETWEEN = '","sequence":'


def _encoded_around_link(event: AuditEvent) -> tuple[str, str]:
    content = {
        "chain": event.chain,
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
    before = {key: value for key, value in content.items() if key < "previous_hash"}
    after = {key: value for key, value in content.items() if key > "sequence"}
    return _json(before)[:-1] + ',"previous_hash":"', "," + _json(after)[1:]


def _json(value: dict) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def append(event: AuditEvent) -> AuditEvent:
    """Number, link and save `event` as the newest link of its tenant's chain."""
    alias = router.db_for_write(AuditEvent)
    if connections[alias].vendor == "postgresql":
        return _append_in_one_statement(event, alias)
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


def _append_in_one_statement(event: AuditEvent, alias: str) -> AuditEvent:
    """`append` on PostgreSQL: lock the head, number, hash, insert and move the head in one statement.

    Every audited request writes an event, most of them requests that write nothing else. The five
    round trips of append_all's transaction (BEGIN, lock, insert, update, COMMIT) were most of what
    the audit trail added to a QIDO-RS search (bench/README.md, issue 7); one statement in autocommit
    is its own transaction, and inside a caller's transaction it simply joins it.
    """
    connection = connections[alias]
    event.chain = chain_of(event.tenant_id)
    event.source_address = _SOURCE_ADDRESS.get_prep_value(event.source_address)
    before, after = _encoded_around_link(event)
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in _CONTENT_FIELDS]
    with connection.cursor() as cursor:
        statement = _append_statement(connection)
        parameters = [event.chain, *values, before, after, event.chain]
        row = _fetch_one(cursor, statement, parameters)
        if row is None:  # the chain's first event: its head does not exist yet
            with transaction.atomic(using=alias):
                _lock_head(cursor, event.chain)
                row = _fetch_one(cursor, statement, parameters)
    event.pk, event.sequence, event.previous_hash, event.hash = row
    event._state.adding, event._state.db = False, alias
    return event


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


# The same insert for PostgreSQL with the link computed by the database: the head's row is locked (writers
# of one chain queue here, and each sees the head its predecessor left), the event is numbered after it
# and hashed over the parts encoded in Python around the previous hash and the sequence, exactly as
# event_hash does, and the head moves to it. No row comes back if the chain has no head yet.
_LINK_FIELDS = ("sequence", "previous_hash", "hash")
_CONTENT_FIELDS = [field for field in _EVENT_FIELDS if field.attname not in _LINK_FIELDS]


def _fetch_one(cursor, statement: str, parameters: list) -> tuple | None:
    """Run the append statement and return its row, as a prepared statement where that is safe.

    Django binds parameters on the client, so PostgreSQL would parse and plan this statement afresh at
    every event: a third of its cost (issue 7). With Django's own connection pool the connections
    live as long as the process and are ours alone, so the statement is prepared once per connection
    (psycopg's server-side binding). Behind an external pooler such as PgBouncer a prepared statement
    may not outlive the transaction, so there it runs as any other.
    """
    if not cursor.db.settings_dict.get("OPTIONS", {}).get("pool"):
        cursor.execute(statement, parameters)
        return cursor.fetchone()
    with cursor.db.wrap_database_errors:
        prepared = psycopg.Cursor(cursor.cursor.connection)
        prepared.execute(statement, parameters, prepare=True)
        return prepared.fetchone()


_append_statements: dict[str, str] = {}


def _append_statement(connection) -> str:
    """The statement for the database `connection` is an alias of, built at its first use."""
    if connection.alias not in _append_statements:
        _append_statements[connection.alias] = _build_append_statement(connection)
    return _append_statements[connection.alias]


def _build_append_statement(connection) -> str:
    # Each value is cast to its column's type: in a SELECT list an untyped parameter would be text.
    columns = ", ".join([*(field.column for field in _CONTENT_FIELDS), *_LINK_FIELDS])
    values = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in _CONTENT_FIELDS)
    link = f"%s || head.previous_hash || '{_BETWEEN}' || head.sequence || %s"
    return f"""
WITH head AS (
    SELECT sequence + 1 AS sequence, COALESCE(NULLIF(hash, ''), '{GENESIS_HASH}') AS previous_hash
    FROM audit_auditchainhead WHERE chain = %s FOR UPDATE
), event AS (
    INSERT INTO audit_auditevent ({columns})
    SELECT {values}, head.sequence, head.previous_hash, encode(sha256(convert_to({link}, 'UTF8')), 'hex')
    FROM head
    RETURNING id, sequence, previous_hash, hash
), moved AS (
    UPDATE audit_auditchainhead SET sequence = event.sequence, hash = event.hash
    FROM event WHERE audit_auditchainhead.chain = %s
)
SELECT id, sequence, previous_hash, hash FROM event
"""  # noqa: S608 (built from the model's column names and types and constants: no value is ever part of it)


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
