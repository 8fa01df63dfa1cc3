"""Tamper evidence of the audit trail (issue 7): hash chains per tenant, signed checkpoints,
verify_audit_chain, and on PostgreSQL an append-only table."""

import threading
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

import audit
from audit.chain import GENESIS_HASH, chain_of, event_hash
from audit.checkpoints import sign_checkpoints
from audit.models import AuditAction, AuditChainHead, AuditCheckpoint, AuditEvent

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="triggers exist on PostgreSQL only"
)


def _record(tenant, count: int, action=AuditAction.VIEW_STUDY) -> list[AuditEvent]:
    return [
        audit.record(action, tenant=tenant, object_type="study", object_ids=[f"1.2.3.{n}"], details={"n": n})
        for n in range(count)
    ]


@contextmanager
def _tampering():
    """What someone with the table owner's rights can do: switch the triggers off, then edit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The test's own inserts leave deferred foreign-key checks pending, which ALTER TABLE refuses.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def _verify(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit_chain", *args, stdout=out)
    return out.getvalue()


def test_events_of_each_tenant_form_a_gapless_linked_chain(tenant, other_tenant):
    mine = _record(tenant, 3)
    theirs = _record(other_tenant, 2)
    platform = _record(None, 1, action=AuditAction.SIGN_IN_FAILED)
    assert [event.sequence for event in mine] == [1, 2, 3]
    assert [event.sequence for event in theirs] == [1, 2]
    assert {event.chain for event in mine} == {chain_of(tenant.pk)}
    assert platform[0].chain == "platform"
    assert mine[0].previous_hash == GENESIS_HASH
    assert mine[1].previous_hash == mine[0].hash
    stored = AuditEvent.objects.get(pk=mine[2].pk)
    assert event_hash(stored) == stored.hash == mine[2].hash
    output = _verify()
    assert f"chain {chain_of(tenant.pk)}: 3 events, intact" in output
    assert f"chain {chain_of(other_tenant.pk)}: 2 events, intact" in output
    assert "chain platform: 1 events, intact" in output


def test_an_edited_event_is_reported(tenant):
    events = _record(tenant, 4)
    with _tampering():
        AuditEvent.objects.filter(pk=events[1].pk).update(object_ids=["9.9.9"])
    with pytest.raises(CommandError, match=r"broken at event 2: its content does not match its hash"):
        _verify("--tenant", tenant.slug)


def test_a_deleted_event_is_reported(tenant):
    events = _record(tenant, 4)
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).delete()
    with pytest.raises(CommandError, match=r"broken at event 3: events 3 to 3 are missing"):
        _verify("--tenant", tenant.slug)


def test_a_relinked_forgery_is_reported(tenant):
    # Editing an event and recomputing its hash breaks the link of the event after it.
    events = _record(tenant, 3)
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.details = {"n": 42}
    with _tampering():
        AuditEvent.objects.filter(pk=forged.pk).update(details=forged.details, hash=event_hash(forged))
    with pytest.raises(CommandError, match=r"broken at event 3: it does not link to the event before it"):
        _verify("--tenant", tenant.slug)


def test_a_tail_cut_off_with_its_head_rewound_is_caught_by_the_signed_checkpoint(tenant):
    events = _record(tenant, 5)
    (checkpoint,) = [cp for cp in sign_checkpoints() if cp.chain == chain_of(tenant.pk)]
    assert (checkpoint.sequence, checkpoint.hash) == (5, events[-1].hash)
    with _tampering():
        AuditEvent.objects.filter(pk__in=[events[3].pk, events[4].pk]).delete()
    # A careful tamperer also rewinds the head: the chain left is intact link by link.
    AuditChainHead.objects.filter(chain=chain_of(tenant.pk)).update(sequence=3, hash=events[2].hash)
    with pytest.raises(CommandError, match=r"ends at event 3 but a signed checkpoint saw it reach 5"):
        _verify("--tenant", tenant.slug)


def test_a_tail_cut_off_without_rewinding_the_head_is_reported(tenant):
    events = _record(tenant, 3)
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).delete()
    with pytest.raises(CommandError, match=r"ends at event 2 but its head is at 3"):
        _verify("--tenant", tenant.slug)


def test_a_forged_checkpoint_is_reported(tenant):
    _record(tenant, 2)
    sign_checkpoints()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditcheckpoint DISABLE TRIGGER USER")
    AuditCheckpoint.objects.filter(chain=chain_of(tenant.pk)).update(sequence=9)
    with pytest.raises(CommandError, match=r"a checkpoint's signature does not verify"):
        _verify("--tenant", tenant.slug)


def test_checkpoints_cover_only_new_events_and_a_broken_chain_is_alerted_not_signed(tenant):
    events = _record(tenant, 2)
    assert [cp.sequence for cp in sign_checkpoints() if cp.chain == chain_of(tenant.pk)] == [2]
    assert [cp for cp in sign_checkpoints() if cp.chain == chain_of(tenant.pk)] == []
    _record(tenant, 1)
    with _tampering():
        AuditEvent.objects.filter(pk=events[1].pk).update(details={"n": 7})
    assert [cp for cp in sign_checkpoints() if cp.chain == chain_of(tenant.pk)] == []
    alert = AuditEvent.objects.filter(tenant=tenant, action=AuditAction.SECURITY_ALERT).get()
    assert alert.details["alert"] == "audit_chain_broken"
    assert alert.details["sequence"] == 2


def test_an_unknown_tenant_is_refused_with_a_reason(db):
    with pytest.raises(CommandError, match="No tenant 'nowhere'"):
        _verify("--tenant", "nowhere")


@postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'sign_in'",
        "DELETE FROM audit_auditevent",
        "SET CONSTRAINTS ALL IMMEDIATE; SET LOCAL palisade.audit_truncate = ''; "
        "TRUNCATE audit_auditevent CASCADE",
        "UPDATE audit_auditcheckpoint SET sequence = 1",
    ],
)
def test_postgresql_refuses_changing_the_audit_trail(tenant, statement):
    _record(tenant, 1)
    sign_checkpoints()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.filter(tenant=tenant).count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_tenant_take_distinct_gapless_numbers(tenant):
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _record(tenant, 15)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    sequences = sorted(AuditEvent.objects.filter(tenant=tenant).values_list("sequence", flat=True))
    assert sequences == list(range(1, 61))
    assert "60 events, intact" in _verify("--tenant", tenant.slug)


def _canonical_hash(event: AuditEvent) -> str:
    """The hash as the chain defines it, written out plainly: SHA-256 of the sorted, compact JSON of the
    event's content and its link."""
    import hashlib
    import json

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


def test_the_hash_covers_the_canonical_encoding_whatever_the_details_hold(tenant):
    # Details that mimic the link's own keys, quotes, non-ASCII text and an IPv6 address: the hash the
    # chain stores (on PostgreSQL computed by the database around parts encoded in Python) is the hash
    # of the plain canonical encoding.
    tricky = {
        "previous_hash": "",
        "sequence": 0,
        "note": '","sequence":1,"x":"',
        "ward": "Sjöström — 東京",
    }
    written = audit.record(
        AuditAction.VIEW_STUDY,
        tenant=tenant,
        object_type="study",
        object_ids=["1.2.840.1"],
        details=tricky,
        source_address="2001:DB8::0:1",
    )
    stored = AuditEvent.objects.get(pk=written.pk)
    assert stored.source_address == "2001:db8::1"
    assert stored.details == tricky
    assert stored.hash == written.hash == _canonical_hash(stored) == event_hash(stored)
    assert "1 events, intact" in _verify("--tenant", tenant.slug)


@pytest.mark.django_db(transaction=True)
def test_an_event_written_in_a_transaction_that_rolls_back_leaves_no_gap(tenant):
    # audit.record joins the caller's transaction: rolled back with it, it takes no number.
    _record(tenant, 1)
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(tenant, 2)
        raise RuntimeError("the request failed before anything was sent")
    (last,) = _record(tenant, 1)
    assert last.sequence == 2
    assert AuditChainHead.objects.get(chain=chain_of(tenant.pk)).sequence == 2
    assert "2 events, intact" in _verify("--tenant", tenant.slug)
