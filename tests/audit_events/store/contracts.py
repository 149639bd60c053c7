"""The contract every event-store adapter passes (SQL today, DynamoDB later).

A backend's test module subclasses ``EventStoreContract`` and implements
``create_store()`` (and, for the concurrency test, ``scratch_store()``).
"""

import json
import threading
import uuid

import pytest

from audit_events.hashing import GENESIS_HASH, record_hash
from audit_events.jcs import canonicalize
from audit_events.schema import EventIn
from audit_events.store import EventConflictError, ExpectedSequenceError
from audit_events.verification import verify_events
from tests.conftest import event_dict


def event(**overrides) -> EventIn:
    return EventIn.model_validate(event_dict(**overrides))


def new_id() -> str:
    return str(uuid.uuid4())


class EventStoreContract:
    """Behaviour shared by all stores. Not collected itself (no ``Test`` prefix)."""

    #: the concurrency test's writers, events per writer and batch size
    concurrency = (8, 500, 25)

    def create_store(self):
        raise NotImplementedError

    @pytest.fixture
    def store(self):
        return self.create_store()

    def count(self, store) -> int:
        return len(store.read_all(limit=1_000_000))

    # -- appending --------------------------------------------------------

    def test_first_event_starts_the_chain(self, store):
        (result,) = store.append([event()])
        assert result.status == "created"
        assert result.sequence == 1
        assert result.prev_hash == GENESIS_HASH
        stored = store.get(result.event_id)
        assert stored.hash == result.hash
        assert record_hash(stored.to_dict()) == result.hash

    def test_events_of_an_aggregate_chain_in_order(self, store):
        results = store.append([event() for _ in range(3)]) + store.append([event()])
        assert [r.sequence for r in results] == [1, 2, 3, 4]
        for previous, current in zip(results, results[1:]):
            assert current.prev_hash == previous.hash

    def test_sequences_are_per_aggregate(self, store):
        results = store.append(
            [event(aggregate_id="a"), event(aggregate_id="b"), event(aggregate_id="a"),
             event(tenant="globex", aggregate_id="a")]
        )
        assert [r.sequence for r in results] == [1, 1, 2, 1]

    def test_the_record_is_stored_exactly_as_hashed(self, store):
        (result,) = store.append([event(payload={"x": 1.5, "y": "\U0001f600", "z": None}, pii=[])])
        stored = store.get(result.event_id)
        assert canonicalize(json.loads(stored.record_json)).decode() == stored.record_json
        as_read = json.loads(stored.to_json())
        assert as_read["hash"] == result.hash
        assert record_hash(as_read) == result.hash
        assert as_read["payload"] == {"x": 1.5, "y": "\U0001f600", "z": None}
        assert as_read["occurred_at"] == "2026-11-20T08:30:00.250000Z"  # normalised to UTC
        assert as_read["recorded_at"] == result.recorded_at

    def test_optional_fields_are_left_out_not_null(self, store):
        (result,) = store.append([event(trace_id=None, actor={"id": "svc", "type": "system"})])
        record = store.get(result.event_id).record
        assert "trace_id" not in record
        assert record["actor"] == {"id": "svc", "type": "system"}

    def test_server_assigns_uuid4_event_ids(self, store):
        (result,) = store.append([event()])
        assert uuid.UUID(result.event_id).version == 4

    # -- idempotency and conflicts ------------------------------------------

    def test_same_event_id_same_content_is_a_duplicate(self, store):
        event_id = new_id()
        (first,) = store.append([event(event_id=event_id)])
        (again,) = store.append([event(event_id=event_id)])
        assert again.status == "duplicate"
        assert (again.sequence, again.hash, again.prev_hash) == (first.sequence, first.hash, first.prev_hash)
        assert self.count(store) == 1

    def test_duplicate_is_recognised_after_normalisation(self, store):
        event_id = new_id()
        store.append([event(event_id=event_id)])
        # same instant written in another offset, same IP written differently
        (again,) = store.append(
            [event(event_id=event_id, occurred_at="2026-11-20T08:30:00.25Z")]
        )
        assert again.status == "duplicate"

    def test_same_event_id_other_content_conflicts_and_writes_nothing(self, store):
        event_id = new_id()
        store.append([event(event_id=event_id)])
        with pytest.raises(EventConflictError) as caught:
            store.append([event(aggregate_id="other"), event(event_id=event_id, payload={"changed": True}, pii=[])])
        assert caught.value.index == 1 and caught.value.event_id == event_id
        assert self.count(store) == 1

    def test_duplicates_inside_one_batch(self, store):
        event_id = new_id()
        results = store.append([event(event_id=event_id), event(event_id=event_id)])
        assert [r.status for r in results] == ["created", "duplicate"]
        assert results[0].hash == results[1].hash
        with pytest.raises(EventConflictError):
            store.append([event(event_id=(other := new_id())), event(event_id=other, event_type="X")])
        assert self.count(store) == 1

    def test_expected_sequence(self, store):
        store.append([event(expected_sequence=0), event(expected_sequence=1)])
        with pytest.raises(ExpectedSequenceError) as caught:
            store.append([event(aggregate_id="new"), event(expected_sequence=1)])
        assert caught.value.index == 1
        assert "at sequence 1, but it is at 2" in str(caught.value)
        assert self.count(store) == 2
        (result,) = store.append([event(expected_sequence=2)])
        assert result.sequence == 3

    def test_a_retry_with_expected_sequence_is_a_duplicate_not_a_conflict(self, store):
        event_id = new_id()
        store.append([event(event_id=event_id, expected_sequence=0)])
        store.append([event()])
        (retry,) = store.append([event(event_id=event_id, expected_sequence=0)])
        assert retry.status == "duplicate" and retry.sequence == 1

    def test_a_failed_batch_leaves_the_chain_untouched(self, store):
        (first,) = store.append([event()])
        with pytest.raises(ExpectedSequenceError):
            store.append([event(), event(), event(expected_sequence=0)])
        (second,) = store.append([event()])
        assert second.sequence == 2 and second.prev_hash == first.hash

    def test_an_event_larger_than_any_store_holds_is_refused_and_nothing_written(self, store):
        from audit_events.store import EventTooLargeError

        key = "k" * 5_000  # a small payload, but 100 pii pointers under one long key: 500 KB as stored
        huge = event(aggregate_id="huge", payload={key: {f"f{i}": i for i in range(100)}},
                     pii=[f"/{key}/f{i}" for i in range(100)])
        with pytest.raises(EventTooLargeError, match=r"events\[1\].*the limit is 350000"):
            store.append([event(), huge])
        assert self.count(store) == 0

    # -- reading ------------------------------------------------------------

    def test_get_unknown_or_malformed_id(self, store):
        assert store.get(new_id()) is None
        assert store.get("not-a-uuid") is None

    def test_get_many_in_the_order_given_with_or_without_position_hints(self, store):
        store.append([event(aggregate_id=f"m{i}") for i in range(8)])
        feed = store.read_all()
        ids = [e.record["event_id"] for e in feed][::-1] + [new_id(), "not-a-uuid"]
        expected = ids[:8]

        def got(**hint):
            return [e.record["event_id"] for e in store.get_many(ids, **hint)]

        right = [e.position for e in feed][::-1] + [10**9, 10**9 + 1]
        assert got() == expected
        assert got(positions=right) == expected
        # A stale hint (an index out of step with the store) costs a lookup, never a wrong event.
        assert got(positions=right[1:] + right[:1]) == expected
        assert got(positions=[p + 3 for p in right]) == expected
        sparse = [p * 1000 for p in right]
        assert got(positions=sparse) == expected

    def _archived(self, aggregate_id: str, count: int, recorded_at="2026-01-02T03:04:05.000006Z") -> list:
        """``(record, hash)`` of a chain made elsewhere (as an archive holds it)."""
        from audit_events.hashing import event_hash
        from audit_events.records import build_record, event_content

        chain, last = [], GENESIS_HASH
        for sequence in range(1, count + 1):
            record = build_record(event_content(event(aggregate_id=aggregate_id), new_id()), sequence=sequence,
                                  recorded_at=recorded_at, prev_hash=last)
            last = event_hash(last, canonicalize(record))
            chain.append((record, last))
        return chain

    def test_restore_loads_records_exactly_as_archived_and_checks_every_link(self, store):
        from audit_events.store import RestoreError

        chain = self._archived("restored", 4)
        assert store.restore(chain[:2]) == 2 and store.restore(chain[2:]) == 2  # continues what is stored
        events = store.read_aggregate("acme", "Account", "restored")
        assert [(e.record, e.hash) for e in events] == chain  # recorded time and hashes kept
        heads = store.heads(aggregate=("Account", "restored"))
        assert heads[("acme", "Account", "restored")] == (4, chain[-1][1])
        assert verify_events(events, heads).ok
        gap = self._archived("gap", 3)
        for bad, why in [([gap[1]], "does not follow"), ([(gap[0][0], "0" * 64)], "hash does not match"),
                         ([gap[0], ({**gap[1][0], "payload": {"x": 1}}, gap[1][1])], "hash does not match")]:
            with pytest.raises(RestoreError, match=why):
                store.restore(bad)
        assert store.read_aggregate("acme", "Account", "gap") == []  # all or none

    def test_restore_refuses_an_event_id_that_is_stored_already(self, store):
        from audit_events.store import RestoreError

        chain = self._archived("again", 2)
        store.restore(chain[:1])
        other = self._archived("other", 1)
        reused = ({**other[0][0], "event_id": chain[0][0]["event_id"]}, other[0][1])
        with pytest.raises(RestoreError, match="event_id is stored already"):
            store.restore([reused])
        with pytest.raises(RestoreError, match="event_id is stored already"):
            store.restore([chain[1], (chain[1][0], chain[1][1])])
        assert len(store.read_all()) == 1

    def test_read_aggregate_pages(self, store):
        store.append([event() for _ in range(5)] + [event(aggregate_id="other")])
        page = store.read_aggregate("acme", "Account", "acc-1", after=1, limit=2)
        assert [e.sequence for e in page] == [2, 3]
        assert store.read_aggregate("acme", "Account", "acc-1", after=5) == []
        assert store.read_aggregate("acme", "Account", "missing") == []

    def test_change_feed_positions_are_monotonic(self, store):
        store.append([event(aggregate_id=f"a{i}") for i in range(5)])
        store.append([event(aggregate_id="a0")])
        feed = store.read_all()
        positions = [e.position for e in feed]
        assert positions == sorted(set(positions)) and len(positions) == 6
        assert [e.position for e in store.read_all(after_position=positions[2], limit=2)] == positions[3:5]

    def test_last_position_counts_what_the_feed_holds(self, store):
        assert store.last_position() == 0
        store.append([event(aggregate_id=f"l{i}") for i in range(3)])
        assert store.last_position() == store.read_all()[-1].position

    def test_iter_events_and_heads_agree(self, store):
        store.append([event(aggregate_id="a"), event(aggregate_id="b"), event(aggregate_id="a")])
        report = verify_events(store.iter_events(), store.heads())
        assert report.ok and report.events == 3 and report.aggregates == 2
        assert store.heads(tenant="acme", aggregate=("Account", "a"))[("acme", "Account", "a")][0] == 2

    # -- concurrency ----------------------------------------------------------

    def test_concurrent_writers_never_fork_a_chain(self):
        """Many writers (8 x 500 events by default) over 20 aggregates, on a store of its own."""
        writers, per_writer, batch = self.concurrency
        with self.scratch_store() as store:
            errors = []

            def write(worker: int):
                try:
                    for start in range(0, per_writer, batch):
                        store.append(
                            [
                                event(aggregate_id=f"agg-{(worker * 7 + start + i) % 20}",
                                      payload={"worker": worker, "n": start + i}, pii=[])
                                for i in range(batch)
                            ]
                        )
                except Exception as exc:  # reported below, with the worker
                    errors.append((worker, repr(exc)))
                finally:
                    self.close_thread_connections(store)

            threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == [], errors[:3]
            feed = store.read_all(limit=1_000_000)
            assert len(feed) == writers * per_writer
            by_aggregate = {}
            for stored in feed:
                by_aggregate.setdefault(stored.aggregate_id, []).append(stored.sequence)
            assert len(by_aggregate) == 20
            for sequences in by_aggregate.values():
                assert sorted(sequences) == list(range(1, len(sequences) + 1))  # no gap, no duplicate
                assert sequences == sorted(sequences)  # feed order = chain order
            report = verify_events(store.iter_events(), store.heads())
            assert report.ok, report.breaks
            assert report.events == writers * per_writer

    def close_thread_connections(self, store):
        """Release the calling thread's connection (backends override)."""
