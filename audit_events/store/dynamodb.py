"""The event store on DynamoDB: the SQL store's chains and guarantees, by conditional writes.

One table (``deploy/template.yaml``'s ``EventsTable``) holds four kinds of item:

- an **event**: ``pk`` = the aggregate's stream key, ``sk`` = its sequence (from 1), the
  canonical record and its hash, its feed ``position`` and copies of the fields that the
  indexes key on (``by-position``, ``by-tenant-time``, ``by-actor-time``);
- the aggregate's **head**: same ``pk``, ``sk`` = 0, its last sequence and hash;
- a **guard** per event id: ``pk`` = ``E#<event_id>``, pointing at the event (idempotency);
- the **feed** counter: ``pk`` = ``#feed``, the last position given out.

An append is one ``TransactWriteItems``: each event put only where no item is
(``attribute_not_exists``), its guard likewise, each head put only if it still holds the
sequence the append read, and the feed counter only if it still holds the position the
append read. Two writers can therefore never fork a chain or share a position; the loser
re-reads and tries again. The counter serialises appends, as the SQL store's lock does:
positions are gapless and follow commit order, so the feed never skips an event. The counter
also keeps the last recorded time, which no later append goes below (clocks of different
writers disagree; archives cut the feed by recorded day).

Atomicity: a transaction holds at most 100 items (and 4 MB), so a batch of up to
``MAX_ATOMIC_EVENTS`` events is all or none (33: an event, its guard and its aggregate's head
are three items, plus the counter; events of one aggregate share its head, up to 49). A larger batch is
checked whole first — a conflict, a wrong expected sequence or an id reused with other
content rejects it with nothing written — then written a transaction at a time, in order.
Only a concurrent writer moving one of its aggregates, or the service failing, between two
of them can stop it part-way; the error then says how many of its first events were stored,
and a retry with the same event ids stores the rest (the stored ones come back as duplicates).
"""

import random
import time
import uuid
from datetime import datetime
from functools import cached_property
from typing import Iterator, NamedTuple, Sequence

import orjson
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..hashing import GENESIS_HASH, event_hash
from ..jcs import canonicalize
from ..privacy.sealing import KeyCache
from ..records import build_record, content_of, stream_key
from ..schema import EventIn, format_timestamp, parse_timestamp
from .base import (
    AppendConflictError,
    AppendResult,
    EventConflictError,
    EventStore,
    EventTooLargeError,
    ExpectedSequenceError,
    PartlyStoredError,
    StoreBusyError,
    StoredEvent,
    check_record_size,
    check_restored_id,
    duplicate_result,
    restored_link,
    sealed_content,
)

__all__ = ["DynamoDBEventStore", "FEED_PAGE", "MAX_ATOMIC_EVENTS", "record_filter"]

#: positions per partition of the ``by-position`` index (a feed page is one query)
FEED_PAGE = 10_000
_TRANSACTION_ITEMS = 100
_TRANSACTION_BYTES = 3_500_000  # DynamoDB's limit is 4 MB; attribute names and overhead
MAX_ATOMIC_EVENTS = (_TRANSACTION_ITEMS - 1) // 3
_RETRYABLE = {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
#: how long an append keeps retrying against concurrent writers before giving up
INDEX_WAIT_SECONDS = 30.0  # how long a walk of the feed waits for the index to catch up
BUSY_SECONDS = 10.0  # well inside the ingest function's 30 s (and API Gateway's 29 s)

_FEED = {"pk": {"S": "#feed"}, "sk": {"N": "0"}}
_NEW = "attribute_not_exists(pk)"
_BY_POSITION = "by-position"
_BY_TENANT_TIME = "by-tenant-time"
_BY_ACTOR_TIME = "by-actor-time"


def _guard_key(event_id: str) -> dict:
    return {"pk": {"S": f"E#{event_id}"}, "sk": {"N": "0"}}


def _head_key(key: str) -> dict:
    return {"pk": {"S": key}, "sk": {"N": "0"}}


def _stored(item: dict) -> StoredEvent:
    return StoredEvent(
        int(item["position"]["N"]), item["tenant"]["S"], item["aggregate_type"]["S"],
        item["aggregate_id"]["S"], int(item["sk"]["N"]), item["record"]["S"], item["hash"]["S"],
    )


def _with_indexed(item: dict) -> StoredEvent:
    event = _stored(item)
    event.indexed = {
        name: item[name]["S"] if name in item else None
        for name in ("event_id", "event_type", "occurred_at", "recorded_at", "actor_id", "actor_type",
                     "classification", "trace_id")
    }
    return event


def _event_item(record: dict, text: str, digest: str, position: int) -> dict:
    """The event's item: the record as hashed, and copies of what the indexes key on."""
    actor = record["actor"]
    item = {
        "pk": {"S": stream_key(record["tenant"], record["aggregate_type"], record["aggregate_id"])},
        "sk": {"N": str(record["sequence"])},
        "kind": {"S": "event"},
        "position": {"N": str(position)},
        "feed_page": {"N": str(position // FEED_PAGE)},
        "tenant": {"S": record["tenant"]},
        "aggregate_type": {"S": record["aggregate_type"]},
        "aggregate_id": {"S": record["aggregate_id"]},
        "event_id": {"S": record["event_id"]},
        "event_type": {"S": record["event_type"]},
        "occurred_at": {"S": record["occurred_at"]},
        "occurred_key": {"S": record["occurred_at"]},  # UTC, fixed width: sorts as time
        "recorded_at": {"S": record["recorded_at"]},
        "actor_id": {"S": actor["id"]},
        "actor_type": {"S": actor["type"]},
        "actor_key": {"S": f"{record['tenant']}/{actor['id']}"},
        "classification": {"S": record["classification"]},
        "record": {"S": text},
        "hash": {"S": digest},
    }
    if record.get("trace_id") is not None:
        item["trace_id"] = {"S": record["trace_id"]}
    return item


class _Planned(NamedTuple):
    """An event of a batch as the store will write it (``key`` None: a duplicate, not written)."""

    index: int
    key: str | None
    record: dict | None
    text: str | None
    digest: str | None
    result: AppendResult | None


class DynamoDBEventStore(EventStore):
    """Events in one DynamoDB table (see the module's text for its items and guarantees)."""

    #: seconds an append keeps losing races before it gives up (None: ``BUSY_SECONDS``)
    busy_seconds: float | None = None

    def __init__(self, table: str | None = None, client=None):
        self.table = table or settings.AUDIT_DYNAMODB_TABLES["events"]
        if client is not None:
            self.__dict__["client"] = client

    @cached_property
    def client(self):
        import boto3
        from botocore.config import Config

        # boto3 reads AWS_ENDPOINT_URL, the region and credentials from the environment.
        return boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 8}))

    # -- writing ---------------------------------------------------------

    def append(self, events: Sequence[EventIn]) -> list[AppendResult]:
        if not events:
            return []
        events = list(events)
        # Ids are given once: a retry after a lost race keeps them.
        ids = [str(e.event_id) if e.event_id is not None else str(uuid.uuid4()) for e in events]
        # The whole batch is checked before any of it is written; that plan is the first attempt's.
        checked = self._plan_append(events, ids, 0, self._read_state(ids, events))
        results: list[AppendResult] = []
        start = 0
        while start < len(events):
            rest, rest_ids = events[start:], ids[start:]
            try:
                written = self._write_retrying(
                    lambda: self._plan_append(rest, rest_ids, start, self._read_state(rest_ids, rest)),
                    first=checked if start == 0 else None)
            except Exception as error:
                if not start:
                    raise  # nothing of the batch was written
                why = error.args[0] if isinstance(error, AppendConflictError) else f"{type(error).__name__}: {error}"
                raise PartlyStoredError(
                    f"{why} (events[0] to events[{start - 1}] were stored; send the batch again with the same "
                    "event ids to store the rest)", index=start, event_id=ids[start], stored=start) from error
            results.extend(p.result for p in written)
            start += len(written)
        return results

    def restore(self, events: Sequence[tuple[dict, str]]) -> int:
        if not events:
            return 0
        ids = [str(r.get("event_id")) for r, _ in events]
        checked = self._plan_restore(events, self._read_state(ids, [r for r, _ in events]))  # all checked first
        start = 0
        while start < len(events):
            rest = events[start:]
            written = self._write_retrying(lambda: self._plan_restore(
                rest, self._read_state(ids[start:], [r for r, _ in rest]), offset=start),
                first=checked if start == 0 else None)
            start += len(written)
        return len(events)

    def _read_state(self, ids: list[str], events) -> tuple[dict, dict, int]:
        """What an append depends on, read consistently: the stored events with these ids,
        the aggregates' heads, the feed's last position and recorded time."""
        keys = {stream_key(*_aggregate_of(e)) for e in events}
        items = self._batch_get([_guard_key(i) for i in dict.fromkeys(ids)] + [_head_key(k) for k in keys] + [_FEED])
        guards = [i for i in items if i["pk"]["S"].startswith("E#")]
        heads = {i["pk"]["S"]: (int(i["last_sequence"]["N"]), i["last_hash"]["S"])
                 for i in items if i.get("kind", {}).get("S") == "head"}
        feed = next(((int(i["last_position"]["N"]), i["last_recorded"]["S"]) for i in items if i["pk"]["S"] == "#feed"),
                    (0, ""))
        stored = {}
        if guards:
            for item in self._batch_get([{"pk": g["ref_pk"], "sk": g["ref_sk"]} for g in guards]):
                record = orjson.loads(item["record"]["S"])
                stored[record["event_id"]] = (record, item["hash"]["S"])
        return stored, heads, feed

    def _plan_append(self, events, ids, offset, state) -> tuple[list[_Planned], dict, tuple[int, str]]:
        stored, heads, feed = state
        # Recorded time never goes back along the feed (archives cut it by recorded day): a
        # writer that lost a race to one with a later clock takes that one's time.
        recorded = max(format_timestamp(timezone.now()), feed[1])
        start_heads = dict(heads)
        heads = dict(heads)
        plan: list[_Planned] = []
        in_batch: dict[str, tuple[dict, AppendResult]] = {}
        subject_keys = KeyCache()  # each subject's key looked up once per batch
        subject_keys.preload(events)
        for local, (event, event_id) in enumerate(zip(events, ids)):
            index = offset + local
            content = sealed_content(event, event_id, subject_keys, stored.get(event_id))
            if event_id in stored:
                record, digest = stored[event_id]
                plan.append(_Planned(index, None, None, None, None, duplicate_result(index, content, record, digest)))
                continue
            if event_id in in_batch:
                earlier_record, earlier = in_batch[event_id]
                if canonicalize(content) != canonicalize(content_of(earlier_record)):
                    raise EventConflictError(
                        f"events[{index}]: event_id {event_id} appears earlier in this batch with other content",
                        index=index, event_id=event_id)
                plan.append(_Planned(index, None, None, None, None, earlier._replace(status="duplicate")))
                continue
            key = stream_key(event.tenant, event.aggregate_type, event.aggregate_id)
            last_sequence, last_hash = heads.get(key, (0, GENESIS_HASH))
            if event.expected_sequence is not None and event.expected_sequence != last_sequence:
                raise ExpectedSequenceError(
                    f"events[{index}]: event {event_id} expected aggregate {key} at sequence "
                    f"{event.expected_sequence}, but it is at {last_sequence}",
                    index=index, event_id=event_id)
            record = build_record(content, sequence=last_sequence + 1, recorded_at=recorded, prev_hash=last_hash)
            text = canonicalize(record)
            check_record_size(index, event_id, text)
            digest = event_hash(last_hash, text)
            heads[key] = (last_sequence + 1, digest)
            result = AppendResult(event_id, event.tenant, event.aggregate_type, event.aggregate_id,
                                  last_sequence + 1, digest, last_hash, recorded, "created")
            in_batch[event_id] = (record, result)
            plan.append(_Planned(index, key, record, text.decode("utf-8"), digest, result))
        return plan, start_heads, feed

    def _plan_restore(self, events, state, offset: int = 0) -> tuple[list[_Planned], dict, tuple[int, str]]:
        stored, heads, feed = state
        start_heads = dict(heads)
        heads = dict(heads)
        plan, taken = [], set(stored)
        for local, (record, digest) in enumerate(events):
            check_restored_id(offset + local + 1, record, taken)
            key, text = restored_link(offset + local + 1, record, digest, heads)
            plan.append(_Planned(offset + local, key, record, text.decode("utf-8"), digest, None))
        return plan, start_heads, feed

    def _write_retrying(self, make_plan, first=None) -> list[_Planned]:
        """Plan from a fresh read (``first``: a plan just made, for the first attempt) and write
        the plan's first transaction; again when another writer got there first. Returns the
        planned events that transaction covered."""
        patience = BUSY_SECONDS if self.busy_seconds is None else self.busy_seconds
        deadline = time.monotonic() + patience
        for attempt in range(1_000_000):
            plan, heads, feed = first if attempt == 0 and first is not None else make_plan()
            covered, items = _transaction(plan, heads, feed, self.table)
            if not items:  # only duplicates: nothing to write
                return covered
            try:
                self.client.transact_write_items(TransactItems=items)
                return covered
            except self.client.exceptions.TransactionCanceledException as error:
                reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])} - {"None", None}
                if not reasons <= _RETRYABLE:  # a lost race, or throttling on the one feed counter
                    raise
            except self.client.exceptions.TransactionConflictException:
                pass
            if time.monotonic() > deadline:
                raise StoreBusyError(f"the event store stayed busy for {patience:.0f} s; nothing of this "
                                     "transaction was written, try again")
            time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))  # jittered back-off
        raise AssertionError("unreachable")

    def _batch_get(self, keys: list[dict]) -> list[dict]:
        found = []
        for start in range(0, len(keys), 100):
            request = {self.table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                found.extend(answer["Responses"].get(self.table, []))
                request = answer.get("UnprocessedKeys") or None
                if request:
                    time.sleep(0.05)
        return found

    # -- reading ---------------------------------------------------------

    def get(self, event_id: str) -> StoredEvent | None:
        found = self.get_many([event_id])
        return found[0] if found else None

    def get_many(self, event_ids: Sequence[str], *, positions: Sequence[int] | None = None) -> list[StoredEvent]:
        wanted = []
        for event_id in event_ids:
            try:
                wanted.append(str(uuid.UUID(str(event_id))))
            except ValueError:
                continue
        guards = self._batch_get([_guard_key(i) for i in dict.fromkeys(wanted)])
        by_id = {item["event_id"]["S"]: _stored(item)
                 for item in self._batch_get([{"pk": g["ref_pk"], "sk": g["ref_sk"]} for g in guards])}
        return [by_id[i] for i in wanted if i in by_id]

    def read_aggregate(self, tenant, aggregate_type, aggregate_id, *, after=0, limit=100, where=None,
                       before=None) -> list[StoredEvent]:
        holds = record_filter(where) if where is not None else None
        after = max(after, 0)  # sk 0 is the aggregate's head, not an event
        upper = before - 1 if before is not None else 2**62
        if upper <= after or limit <= 0:
            return []
        found = []
        request = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": stream_key(tenant, aggregate_type, aggregate_id)},
                                          ":low": {"N": str(after + 1)}, ":high": {"N": str(upper)}},
        }
        for item in self._query(request, page=limit if holds is None else max(limit, 100)):
            event = _stored(item)
            if holds is None or holds(event.record):
                found.append(event)
                if len(found) == limit:
                    break
        return found

    def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        return [_stored(item) for item in self._feed_items(max(after_position, 0), limit)]

    def _feed_items(self, after_position: int, limit: int) -> list[dict]:
        """The feed from the ``by-position`` index. The index is eventually consistent, so the
        feed stops before the first position it does not show yet: positions are gapless, and
        a reader that moved past a missing one would never see it."""
        found: list[dict] = []
        expected = after_position + 1
        while len(found) < limit:
            page = expected // FEED_PAGE
            request = {
                "TableName": self.table, "IndexName": _BY_POSITION,
                "KeyConditionExpression": "feed_page = :page AND #p >= :from",
                "ExpressionAttributeNames": {"#p": "position"},
                "ExpressionAttributeValues": {":page": {"N": str(page)}, ":from": {"N": str(expected)}},
            }
            for item in self._query(request, page=min(limit - len(found), 1000)):
                if int(item["position"]["N"]) != expected:
                    return found
                found.append(item)
                expected += 1
                if len(found) == limit:
                    return found
            if expected // FEED_PAGE == page:  # the page has nothing more yet
                return found
        return found

    def iter_events(self, *, tenant=None, aggregate=None) -> Iterator[StoredEvent]:
        if tenant is not None and aggregate is not None:
            request = {"TableName": self.table, "ConsistentRead": True,
                       "KeyConditionExpression": "pk = :pk AND sk > :zero",
                       "ExpressionAttributeValues": {":pk": {"S": stream_key(tenant, *aggregate)},
                                                     ":zero": {"N": "0"}}}
            yield from (_with_indexed(item) for item in self._query(request, page=1000))
            return
        # Otherwise the feed, in position order: each chain comes in sequence order. Up to the
        # counter's position when the walk starts, waiting for the index to show every one of
        # them (it is eventually consistent): heads read afterwards must not be ahead of it.
        last = self.last_position()
        after, waited = 0, 0.0
        while after < last:
            items = self._feed_items(after, 1000)
            if not items:
                if waited > INDEX_WAIT_SECONDS:
                    raise RuntimeError(f"the by-position index of {self.table} has not shown position "
                                       f"{after + 1} after {INDEX_WAIT_SECONDS:.0f} s")
                time.sleep(0.1)
                waited += 0.1
                continue
            for item in items:
                if ((tenant is None or item["tenant"]["S"] == tenant) and (aggregate is None or (
                        item["aggregate_type"]["S"], item["aggregate_id"]["S"]) == tuple(aggregate))):
                    yield _with_indexed(item)
            after = int(items[-1]["position"]["N"])

    def heads(self, *, tenant=None, aggregate=None) -> dict[tuple[str, str, str], tuple[int, str]]:
        if tenant is not None and aggregate is not None:
            items = self._batch_get([_head_key(stream_key(tenant, *aggregate))])
        else:
            names, values, test = {"#k": "kind"}, {":head": {"S": "head"}}, ["#k = :head"]
            for field, value in (("tenant", tenant), ("aggregate_type", aggregate and aggregate[0]),
                                 ("aggregate_id", aggregate and aggregate[1])):
                if value is not None:
                    names[f"#{field}"], values[f":{field}"] = field, {"S": value}
                    test.append(f"#{field} = :{field}")
            items = self._scan({"TableName": self.table, "ConsistentRead": True, "FilterExpression": " AND ".join(test),
                                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values})
        return {(i["tenant"]["S"], i["aggregate_type"]["S"], i["aggregate_id"]["S"]):
                (int(i["last_sequence"]["N"]), i["last_hash"]["S"]) for i in items}

    def read_time_range(self, tenant: str, since: datetime, until: datetime, *, actor_id: str | None = None,
                        limit: int = 1000) -> list[StoredEvent]:
        """A tenant's (or one of its actors') events that occurred in ``[since, until)``, oldest
        first, from the time indexes: what a per-tenant or per-actor window reads without the feed."""
        index, name, value = ((_BY_ACTOR_TIME, "actor_key", f"{tenant}/{actor_id}") if actor_id is not None
                              else (_BY_TENANT_TIME, "tenant", tenant))
        request = {
            "TableName": self.table, "IndexName": index,
            "KeyConditionExpression": "#h = :h AND occurred_key BETWEEN :since AND :until",
            "ExpressionAttributeNames": {"#h": name},
            "ExpressionAttributeValues": {":h": {"S": value}, ":since": {"S": format_timestamp(since)},
                                          ":until": {"S": format_timestamp(until)}},
        }
        upto = format_timestamp(until)
        found = []
        for item in self._query(request, page=min(limit, 1000)):
            if item["occurred_key"]["S"] < upto:
                found.append(_stored(item))
                if len(found) == limit:
                    break
        return found

    def last_position(self) -> int:
        item = self.client.get_item(TableName=self.table, Key=_FEED, ConsistentRead=True).get("Item")
        return int(item["last_position"]["N"]) if item else 0

    def _query(self, request: dict, *, page: int) -> Iterator[dict]:
        request = {**request, "Limit": page}
        while True:
            answer = self.client.query(**request)
            yield from answer["Items"]
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _scan(self, request: dict) -> Iterator[dict]:
        while True:
            answer = self.client.scan(**request)
            yield from answer["Items"]
            if "LastEvaluatedKey" not in answer:
                return
            request = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}


def _aggregate_of(event) -> tuple[str, str, str]:
    if isinstance(event, dict):  # an archived record
        return event["tenant"], event["aggregate_type"], event["aggregate_id"]
    return event.tenant, event.aggregate_type, event.aggregate_id


def _transaction(plan: list[_Planned], heads: dict, feed: tuple[int, str], table: str
                 ) -> tuple[list[_Planned], list[dict]]:
    """The first transaction of a plan: as many of its events as fit DynamoDB's limits, each
    put where no item is, their heads and the feed counter put only if unchanged since read."""
    covered, puts, size = [], [], 0
    last_of: dict[str, _Planned] = {}
    position, recorded = feed
    for planned in plan:
        if planned.key is None:  # a duplicate: nothing to write
            covered.append(planned)
            continue
        adds = 2 + (planned.key not in last_of)
        weight = len(planned.text.encode()) + 2048  # the record (bytes), and the copies of its fields
        if len(puts) + len(last_of) + adds + 1 > _TRANSACTION_ITEMS or size + weight > _TRANSACTION_BYTES:
            break
        position += 1
        item = _event_item(planned.record, planned.text, planned.digest, position)
        puts.append({"Put": {"TableName": table, "Item": item, "ConditionExpression": _NEW}})
        puts.append({"Put": {"TableName": table, "ConditionExpression": _NEW, "Item": {
            **_guard_key(planned.record["event_id"]), "kind": {"S": "guard"},
            "ref_pk": item["pk"], "ref_sk": item["sk"]}}})
        last_of[planned.key] = planned
        recorded = max(recorded, planned.record["recorded_at"])
        covered.append(planned)
        size += weight
    if not puts:
        if len(covered) < len(plan):  # cannot happen under MAX_RECORD_BYTES; never loop on it
            raise EventTooLargeError(f"events[{plan[len(covered)].index}] does not fit a transaction",
                                     index=plan[len(covered)].index, event_id=plan[len(covered)].record["event_id"])
        return covered, []
    for key, planned in last_of.items():
        record = planned.record
        head = {**_head_key(key), "kind": {"S": "head"}, "tenant": {"S": record["tenant"]},
                "aggregate_type": {"S": record["aggregate_type"]}, "aggregate_id": {"S": record["aggregate_id"]},
                "last_sequence": {"N": str(record["sequence"])}, "last_hash": {"S": planned.digest}}
        put = {"TableName": table, "Item": head}
        if key in heads:
            put |= {"ConditionExpression": "last_sequence = :read",
                    "ExpressionAttributeValues": {":read": {"N": str(heads[key][0])}}}
        else:
            put["ConditionExpression"] = _NEW
        puts.append({"Put": put})
    counter = {"TableName": table, "Item": {**_FEED, "kind": {"S": "feed"}, "last_position": {"N": str(position)},
                                            "last_recorded": {"S": recorded}}}
    if feed[0]:
        counter |= {"ConditionExpression": "last_position = :read",
                    "ExpressionAttributeValues": {":read": {"N": str(feed[0])}}}
    else:
        counter["ConditionExpression"] = _NEW
    puts.append({"Put": counter})
    return covered, puts


# -- access filters -------------------------------------------------------------------------
# DynamoDB has no form of the policy engine's filter that keeps pages exact, so the adapter
# evaluates the same Django ``Q`` on each event it reads: events outside it are never returned.

_RECORD_FIELDS = {
    "tenant": lambda r: r.get("tenant"),
    "aggregate_type": lambda r: r.get("aggregate_type"),
    "aggregate_id": lambda r: r.get("aggregate_id"),
    "event_type": lambda r: r.get("event_type"),
    "classification": lambda r: r.get("classification"),
    "actor_id": lambda r: (r.get("actor") or {}).get("id"),
    "actor_type": lambda r: (r.get("actor") or {}).get("type"),
    "trace_id": lambda r: r.get("trace_id"),
    "event_id": lambda r: r.get("event_id"),
    "sequence": lambda r: r.get("sequence"),
    "occurred_at": lambda r: parse_timestamp(r["occurred_at"]),
    "recorded_at": lambda r: parse_timestamp(r["recorded_at"]),
    "pk": lambda r: r.get("event_id"),  # the engine's match-all / match-none test the key
}
_LOOKUPS = {
    "exact": lambda a, v: a == v,
    "in": lambda a, v: a in v,
    "exactprefix": lambda a, v: isinstance(a, str) and a.startswith(v),
    "isnull": lambda a, v: (a is None) == bool(v),
    "lt": lambda a, v: a is not None and a < v,
    "lte": lambda a, v: a is not None and a <= v,
    "gt": lambda a, v: a is not None and a > v,
    "gte": lambda a, v: a is not None and a >= v,
}


def record_filter(where):
    """``where`` (a Django ``Q`` over the events table's fields) as a test of a record.
    Raises ``TypeError`` for a filter it cannot evaluate, as callers expect of a store."""
    if not isinstance(where, Q):
        raise TypeError(f"the DynamoDB store takes a Django Q as its access filter, not {type(where).__name__}")

    def compile_node(node):
        if isinstance(node, Q):
            parts = [compile_node(child) for child in node.children]
            if node.connector == Q.AND:
                test = lambda r: all(p(r) for p in parts)  # noqa: E731
            elif node.connector == Q.OR:
                test = lambda r: any(p(r) for p in parts)  # noqa: E731
            else:
                test = lambda r: sum(bool(p(r)) for p in parts) % 2 == 1  # noqa: E731
            return (lambda r: not test(r)) if node.negated else test
        lookup, value = node
        field, _, op = lookup.partition("__")
        if field not in _RECORD_FIELDS or (op or "exact") not in _LOOKUPS:
            raise TypeError(f"the DynamoDB store cannot evaluate the filter {lookup!r}")
        read, check = _RECORD_FIELDS[field], _LOOKUPS[op or "exact"]
        if isinstance(value, datetime) and timezone.is_naive(value):
            value = timezone.make_aware(value, timezone.utc)
        values = list(value) if op == "in" else value
        return lambda r: check(read(r), values)

    return compile_node(where)
