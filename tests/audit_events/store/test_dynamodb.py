"""The DynamoDB event store, against moto in server mode, through the shared contract."""

import contextlib
import uuid
from datetime import datetime, timezone

import pytest

from audit_events.aws_resources import make_table
from audit_events.store import ExpectedSequenceError, PartlyStoredError
from audit_events.store.dynamodb import MAX_ATOMIC_EVENTS, DynamoDBEventStore
from tests.audit_events.store.contracts import EventStoreContract, event, new_id

# Personal data is sealed under keys kept in the SQL database, whichever the store.
pytestmark = pytest.mark.django_db


def fresh_store() -> DynamoDBEventStore:
    """A store over a table of its own (made from the template, as bootstrap_aws makes it)."""
    name = f"events-{uuid.uuid4().hex[:12]}"
    make_table("events", name)
    return DynamoDBEventStore(table=name)


@pytest.mark.usefixtures("aws_endpoint")
class TestDynamoDBEventStore(EventStoreContract):
    # moto copies the whole table for every transaction: a smaller run than the SQL stores',
    # still many writers racing for the same chains and the one feed counter.
    concurrency = (6, 60, 10)

    def create_store(self):
        return fresh_store()

    @contextlib.contextmanager
    def scratch_store(self):
        store = fresh_store()
        # moto answers one request at a time and copies the table for every transaction: far
        # slower than DynamoDB, so a writer may lose races for longer than the store's patience.
        store.busy_seconds = 120.0
        yield store

    # -- what only this backend has ----------------------------------------------------

    def test_a_batch_larger_than_one_transaction_is_stored_whole_and_in_order(self, store):
        count = MAX_ATOMIC_EVENTS * 2 + 5
        results = store.append([event(aggregate_id=f"big-{i % 3}") for i in range(count)])
        assert len(results) == count and all(r.status == "created" for r in results)
        feed = store.read_all(limit=10_000)
        assert [e.record["event_id"] for e in feed] == [r.event_id for r in results]
        assert [e.position for e in feed] == list(range(1, count + 1))

    def test_a_large_batch_with_a_bad_event_at_its_end_writes_nothing(self, store):
        store.append([event()])
        batch = [event(aggregate_id=f"x{i}") for i in range(MAX_ATOMIC_EVENTS * 2)] + [event(expected_sequence=0)]
        with pytest.raises(ExpectedSequenceError) as caught:
            store.append(batch)
        assert caught.value.index == len(batch) - 1
        assert len(store.read_all(limit=10_000)) == 1

    def test_a_writer_moving_an_aggregate_between_two_transactions_is_named(self, store, monkeypatch):
        """The stated limit of atomicity: the stored part is said, and a retry completes it."""
        ids = [new_id() for _ in range(MAX_ATOMIC_EVENTS + 1)]
        batch = [event(event_id=i, aggregate_id=f"p{n}") for n, i in enumerate(ids[:-1])]
        batch.append(event(event_id=ids[-1], aggregate_id="contended", expected_sequence=0))
        original = store._write_retrying
        calls = []

        def interleaved(make_plan, first=None):
            calls.append(1)
            if len(calls) == 2:  # another writer takes the aggregate between the two transactions
                other = DynamoDBEventStore(table=store.table)
                other.append([event(aggregate_id="contended")])
            return original(make_plan, first)

        monkeypatch.setattr(store, "_write_retrying", interleaved)
        with pytest.raises(PartlyStoredError, match=rf"events\[0\] to events\[{MAX_ATOMIC_EVENTS - 1}\] were stored") as caught:
            store.append(batch)
        assert caught.value.stored == MAX_ATOMIC_EVENTS and isinstance(caught.value.__cause__, ExpectedSequenceError)
        monkeypatch.setattr(store, "_write_retrying", original)
        retried = store.append(batch[:-1] + [event(event_id=ids[-1], aggregate_id="contended")])
        assert [r.status for r in retried] == ["duplicate"] * MAX_ATOMIC_EVENTS + ["created"]

    def test_a_conditional_put_refuses_to_overwrite_an_event(self, store):
        """The table itself refuses a second event at a taken sequence, whatever the writer."""
        (first,) = store.append([event()])
        stored = store.get(first.event_id)
        item = {"pk": {"S": "acme/Account/acc-1"}, "sk": {"N": "1"}, "record": {"S": "{}"}}
        with pytest.raises(store.client.exceptions.ConditionalCheckFailedException):
            store.client.put_item(TableName=store.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        assert store.get(first.event_id).record_json == stored.record_json

    def test_access_filters_are_evaluated_on_each_event(self, store):
        from django.db.models import Q

        store.append([event(classification="public"), event(classification="restricted"), event(classification="public")])
        visible = store.read_aggregate("acme", "Account", "acc-1", where=Q(classification__in=["public"]))
        assert [e.sequence for e in visible] == [1, 3]
        assert [e.sequence for e in store.read_aggregate("acme", "Account", "acc-1", where=~Q(classification="public"))] == [2]
        assert store.read_aggregate("acme", "Account", "acc-1", where=Q(pk__in=[])) == []
        assert len(store.read_aggregate("acme", "Account", "acc-1", where=Q(pk__isnull=False), limit=2)) == 2
        with pytest.raises(TypeError):
            store.read_aggregate("acme", "Account", "acc-1", where=Q(record__contains="x"))

    def test_time_range_reads_per_tenant_and_per_actor(self, store):
        store.append([
            event(aggregate_id="t1", occurred_at="2026-11-01T10:00:00Z", actor={"id": "ann", "type": "user"}),
            event(aggregate_id="t2", occurred_at="2026-11-02T10:00:00Z", actor={"id": "bob", "type": "user"}),
            event(aggregate_id="t3", occurred_at="2026-11-03T10:00:00Z", actor={"id": "ann", "type": "user"}),
            event(tenant="globex", aggregate_id="t4", occurred_at="2026-11-02T10:00:00Z"),
        ])
        since, until = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 11, 3, 10, tzinfo=timezone.utc)
        assert [e.aggregate_id for e in store.read_time_range("acme", since, until)] == ["t1", "t2"]
        assert [e.aggregate_id for e in store.read_time_range("acme", since, datetime(2026, 12, 1, tzinfo=timezone.utc),
                                                              actor_id="ann")] == ["t1", "t3"]

    def test_a_busy_store_gives_up_with_nothing_written(self, store, monkeypatch):
        from audit_events.store import dynamodb

        store.append([event()])
        monkeypatch.setattr(dynamodb, "BUSY_SECONDS", 0.0)
        real = store._read_state

        def stale(ids, events):  # always the state before the first append: every write loses
            stored, heads, feed = real(ids, events)
            return stored, {}, (0, "")

        monkeypatch.setattr(store, "_read_state", stale)
        with pytest.raises(dynamodb.StoreBusyError, match="nothing of this transaction was written"):
            store.append([event(aggregate_id="late")])
        assert len(store.read_all()) == 1


    def test_recorded_time_never_goes_back_along_the_feed(self, store, monkeypatch):
        """A writer whose clock is behind (another Lambda, or one that lost a race) takes the
        feed's last recorded time: archives cut the feed by recorded day."""
        from datetime import timedelta

        from django.utils import timezone as django_timezone

        from audit_events.store import dynamodb

        (first,) = store.append([event()])
        behind = django_timezone.now() - timedelta(days=2)
        monkeypatch.setattr(dynamodb.timezone, "now", lambda: behind)
        (second,) = store.append([event(aggregate_id="other")])
        assert second.recorded_at == first.recorded_at
        recorded = [e.record["recorded_at"] for e in store.read_all()]
        assert recorded == sorted(recorded)


    def test_a_busy_store_after_the_first_transaction_says_what_was_stored(self, store, monkeypatch):
        from audit_events.store import StoreBusyError

        original, calls = store._write_retrying, []

        def busy_second(make_plan, first=None):
            calls.append(1)
            if len(calls) == 2:
                raise StoreBusyError("the event store stayed busy")
            return original(make_plan, first)

        monkeypatch.setattr(store, "_write_retrying", busy_second)
        with pytest.raises(PartlyStoredError, match="StoreBusyError.*were stored") as caught:
            store.append([event(aggregate_id=f"b{i}") for i in range(MAX_ATOMIC_EVENTS + 2)])
        assert caught.value.stored == MAX_ATOMIC_EVENTS == len(store.read_all(limit=1000))

    def test_reads_before_the_start_are_reads_from_the_start(self, store):
        store.append([event(), event()])
        assert [e.sequence for e in store.read_aggregate("acme", "Account", "acc-1", after=-5)] == [1, 2]
        assert len(store.read_all(after_position=-1)) == 2
