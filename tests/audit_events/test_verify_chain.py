"""verify_chain finds every kind of tampering, on SQLite and on PostgreSQL.

The attacker here owns the database: the test drops the append-only
triggers first (inside the test's transaction, which rolls it back).
"""

import json

import pytest
from django.core.management import call_command
from django.db import connections

from audit_events import triggers
from audit_events.hashing import event_hash
from audit_events.jcs import canonicalize
from audit_events.store.sql import SQLEventStore
from audit_events.verification import verify_store
from tests.audit_events.store.contracts import event
from tests.audit_events.store.test_sql import _POSTGRES, require_postgres

ALIASES = [
    pytest.param("default", marks=pytest.mark.django_db(databases=["default"])),
    pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.django_db(databases=_POSTGRES)]),
]


def _tampered(alias):
    if alias == "postgres":
        require_postgres()
    store = SQLEventStore(using=alias)
    store.append([event(aggregate_id=aggregate, payload={"n": n}, pii=[])
                  for n in range(5) for aggregate in ("a", "b")])
    triggers.remove(connections[alias])
    cursor = connections[alias].cursor()

    def sql(statement, params=()):
        cursor.execute(statement, params)
        return cursor

    return store, sql


@pytest.fixture(params=ALIASES)
def tampered(request):
    """A store with two aggregates of 5 events each, triggers removed."""
    return _tampered(request.param)


def record_of(sql, aggregate_id, sequence):
    row = sql(
        "SELECT record, hash FROM audit_event WHERE aggregate_id = %s AND sequence = %s",
        (aggregate_id, sequence),
    ).fetchone()
    return json.loads(row[0]), row[1]


def only_break(store):
    report = verify_store(store)
    assert report.events >= 5
    (chain_break,) = report.breaks
    assert chain_break.aggregate == ("acme", "Account", "a")
    return chain_break


def test_untouched_store_verifies(tampered):
    store, _ = tampered
    report = verify_store(store)
    assert report.ok and report.events == 10 and report.aggregates == 2


def test_modified_payload(tampered):
    store, sql = tampered
    record, _ = record_of(sql, "a", 3)
    record["payload"]["n"] = 999
    sql("UPDATE audit_event SET record = %s WHERE aggregate_id = 'a' AND sequence = 3",
        (canonicalize(record).decode(),))
    chain_break = only_break(store)
    assert (chain_break.sequence, "modified") == (3, "modified") and "hash mismatch" in chain_break.reason


def test_deleted_event_in_the_middle(tampered):
    store, sql = tampered
    sql("DELETE FROM audit_event WHERE aggregate_id = 'a' AND sequence = 2")
    chain_break = only_break(store)
    assert chain_break.sequence == 2 and "deleted" in chain_break.reason


def test_deleted_last_event(tampered):
    store, sql = tampered
    sql("DELETE FROM audit_event WHERE aggregate_id = 'a' AND sequence = 5")
    chain_break = only_break(store)
    assert chain_break.sequence == 5 and "head records sequence 5" in chain_break.reason


def test_deleted_whole_aggregate(tampered):
    store, sql = tampered
    sql("DELETE FROM audit_event WHERE aggregate_id = 'a'")
    chain_break = only_break(store)
    assert chain_break.sequence == 1 and "all 5 events" in chain_break.reason


def test_non_canonical_record_text(tampered):
    store, sql = tampered
    # A duplicated member: a parser that keeps the last one still sees the original.
    record, _ = record_of(sql, "a", 2)
    text = '{"payload":{"n":999},' + canonicalize(record).decode()[1:]
    sql("UPDATE audit_event SET record = %s WHERE aggregate_id = 'a' AND sequence = 2", (text,))
    chain_break = only_break(store)
    assert chain_break.sequence == 2 and "not in canonical form" in chain_break.reason


@pytest.mark.parametrize(
    "column, value",
    [("classification", "public"), ("actor_id", "someone-else"), ("actor_type", "system"),
     ("event_type", "Nothing"), ("trace_id", None)],
)
def test_indexed_column_changed(tampered, column, value):
    store, sql = tampered
    sql(f"UPDATE audit_event SET {column} = %s WHERE aggregate_id = 'a' AND sequence = 4", (value,))
    chain_break = only_break(store)
    assert chain_break.sequence == 4 and column in chain_break.reason


def test_deleted_last_event_and_its_head(tampered):
    store, sql = tampered
    sql("DELETE FROM audit_event WHERE aggregate_id = 'a' AND sequence = 5")
    sql("DELETE FROM audit_aggregate_head WHERE aggregate_id = 'a'")
    chain_break = only_break(store)
    assert "head is missing" in chain_break.reason


def test_reordered_events(tampered):
    store, sql = tampered
    sql("UPDATE audit_event SET sequence = 1000 WHERE aggregate_id = 'a' AND sequence = 2")
    sql("UPDATE audit_event SET sequence = 2 WHERE aggregate_id = 'a' AND sequence = 3")
    sql("UPDATE audit_event SET sequence = 3 WHERE aggregate_id = 'a' AND sequence = 1000")
    chain_break = only_break(store)
    assert chain_break.sequence == 2 and "reordered" in chain_break.reason


def test_inserted_event_with_a_recomputed_hash(tampered):
    store, sql = tampered
    # Make room at sequence 3, then forge a well-chained event there.
    for sequence in (5, 4, 3):
        sql("UPDATE audit_event SET sequence = sequence + 1 WHERE aggregate_id = 'a' AND sequence = %s", (sequence,))
    previous, previous_hash = record_of(sql, "a", 2)
    forged = dict(previous, sequence=3, prev_hash=previous_hash,
                  event_id="00000000-0000-4000-8000-000000000001", payload={"n": -1})
    canonical = canonicalize(forged).decode()
    digest = event_hash(previous_hash, canonical.encode())
    columns = sql("SELECT tenant, aggregate_type, event_type, occurred_at, recorded_at, actor_id, actor_type, "
                  "classification, trace_id FROM audit_event WHERE aggregate_id = 'a' AND sequence = 2").fetchone()
    sql("INSERT INTO audit_event (event_id, tenant, aggregate_type, aggregate_id, sequence, event_type, occurred_at, "
        "recorded_at, actor_id, actor_type, classification, trace_id, record, hash) "
        "VALUES (%s, %s, %s, 'a', 3, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        ("00000000000040008000000000000001" if store.connection.vendor == "sqlite" else forged["event_id"],
         *columns, canonical, digest))
    chain_break = only_break(store)
    # The forged event chains to its predecessor, but it was stored after the
    # events it claims to precede: the walk in stored order finds the gap at 3.
    assert chain_break.sequence == 3 and "inserted" in chain_break.reason


@pytest.mark.django_db
def test_verify_chain_command_reports_each_broken_aggregate(capsys):
    store, sql = _tampered("default")
    sql("DELETE FROM audit_event WHERE aggregate_id = 'a' AND sequence = 2")
    sql("UPDATE audit_event SET hash = %s WHERE aggregate_id = 'b' AND sequence = 4", ("0" * 64,))
    with pytest.raises(SystemExit) as exited:
        call_command("verify_chain")
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "BROKEN acme/Account/a: first bad sequence 2" in out
    assert "BROKEN acme/Account/b: first bad sequence 4" in out
    call_command("verify_chain", "--aggregate", "Account:b", "--tenant", "globex")
    assert capsys.readouterr().out.strip() == "verified 0 events in 0 aggregates"
