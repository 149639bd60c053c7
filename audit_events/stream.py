"""The stream driver of the projections: DynamoDB Streams batches, on Lambda or polled locally.

``handler`` is the processor stage's Lambda function (Zappa routes a batch here by its
``eventSourceARN``). It runs the same projections as the embedded projector, on the events
among the batch's records (the store's guard, head and counter items are skipped), and
answers with ``batchItemFailures`` so that Lambda retries from the first failed record only.

Order and redelivery: within a batch, each aggregate's events are applied in sequence order
and once (duplicates by aggregate and sequence are dropped); the projections themselves are
idempotent by aggregate and sequence (latest state, snapshots) or by position (search), so a
record delivered again in a later batch changes nothing. When an event fails, it and every
later event of its aggregate in the batch are reported and none of them is applied: an
aggregate never moves on past a gap. Other aggregates carry on.

``poll`` reads the stream's shards the way Lambda's event source mapping does and calls
the handler: what ``run_projector`` runs locally when ``AUDIT_STORE=dynamodb``.
"""

import logging
import time
from typing import Callable, Iterable, Sequence

import orjson
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from .aws import aws_client
from .hashing import event_hash
from .jcs import CanonicalizationError, canonicalize
from .metrics import emit_metrics
from .periodic import projector_jobs
from .models import FailedProjection, ProjectionCheckpoint, StreamCheckpoint
from .projections import Projection, configured_projections
from .projector import record_failure
from .store import StoredEvent

__all__ = ["MAX_ATTEMPTS", "PoisonRecord", "as_lambda_delivers", "handler", "poll", "process_records", "stream_arn"]

log = logging.getLogger(__name__)

#: deliveries of a failing record before the poller gives up on it (the mapping's MaximumRetryAttempts)
MAX_ATTEMPTS = 10


class PoisonRecord(ValueError):
    """A stream record that is not a well-formed stored event."""


def handler(event: dict, context=None) -> dict:
    """Lambda's entry point for a DynamoDB Streams batch."""
    # No request signals on a stream invocation: drop a connection that went bad (a database
    # failover) or stale between invocations of this warm container, as a request would.
    _close_old_connections()
    records = event.get("Records") or []
    try:
        failed = process_records(records)
    finally:
        _close_old_connections()
    emit_metrics({"StreamRecords": (len(records), "Count"), "StreamRecordsFailed": (len(failed), "Count")})
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}


def _close_old_connections() -> None:
    """Django's ``close_old_connections``, except a connection inside a transaction (a caller's
    own, such as a test's), which closing would break."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def process_records(records: Sequence[dict], projections: Sequence[Projection] | None = None) -> list[str]:
    """Apply the batch's events; the stream sequence numbers of the records that failed."""
    projections = configured_projections() if projections is None else projections
    failed: list[str] = []
    by_aggregate: dict[tuple, list[tuple[str, StoredEvent]]] = {}
    blocked: set[tuple] = set()  # aggregates with a poison record: nothing later of theirs applies
    for record in records:
        sequence_number = (record.get("dynamodb") or {}).get("SequenceNumber", "")
        image = (record.get("dynamodb") or {}).get("NewImage")
        if record.get("eventName") != "INSERT" or not image or _attribute(image, "kind") != "event":
            continue  # heads and the feed counter are modified, guards are not events
        try:
            event = stored_event(image)
        except PoisonRecord as error:
            log.error("stream record %s is not a stored event: %s", sequence_number, error)
            failed.append(sequence_number)
            key = tuple(_attribute(image, name) for name in ("tenant", "aggregate_type", "aggregate_id"))
            if all(key):
                blocked.add(key)
            continue
        key = (event.tenant, event.aggregate_type, event.aggregate_id)
        if key in blocked:
            failed.append(sequence_number)
            continue
        by_aggregate.setdefault(key, []).append((sequence_number, event))

    per_aggregate = [p for p in projections if not p.batch_wide]
    batch_wide = [p for p in projections if p.batch_wide]
    groups = {key: [unique[s] for s in sorted(unique)]  # a record twice: once
              for key, unique in ((key, {event.sequence: (number, event) for number, event in items})
                                  for key, items in by_aggregate.items())}
    # A failure holds the event back from every projection: each keeps it as failed.
    highest = _apply_groups(per_aggregate, groups, failed, projections) if per_aggregate else 0
    if batch_wide:
        # What spans aggregates (an IP's sign-ins, a tenant's silence) is evaluated once over the
        # batch: one read and write per key, not one per aggregate. A failure falls back to groups.
        # An aggregate's failed records are a tail of it (its first failure and all after): the
        # records before that were applied elsewhere, and are not retried, so they count here too.
        held = set(failed)
        applied = {key: kept for key, kept in ((key, [(n, e) for n, e in items if n not in held])
                                               for key, items in groups.items()) if kept}
        try:
            _apply(batch_wide, sorted((e for items in applied.values() for _, e in items), key=lambda e: e.position))
            highest = max([highest, *(e.position for items in applied.values() for _, e in items)])
        except Exception:
            log.warning("batch-wide projections failed on the batch; applying them per aggregate", exc_info=True)
            highest = max(highest, _apply_groups(batch_wide, applied, failed, batch_wide))
    if highest:
        _advance_checkpoints(projections, highest)
    # Lambda retries from the lowest failed record of the shard: report them in stream order.
    return sorted(set(failed), key=lambda n: (len(n), n))


def _apply_groups(projections: Sequence[Projection], groups: dict, failed: list[str],
                  failing: Sequence[Projection]) -> int:
    """Apply each aggregate's events in order, isolating failures: an aggregate's first failing
    event and everything after it are ``failed`` (and kept as failed for ``failing``); the
    highest position applied."""
    highest = 0
    for key, ordered in groups.items():
        try:
            _apply(projections, [event for _, event in ordered])
            highest = max(highest, ordered[-1][1].position)
            continue
        except Exception:  # found below, event by event
            log.warning("projections failed on %s/%s/%s; retrying its events one at a time", *key, exc_info=True)
        for position, (number, event) in enumerate(ordered):
            try:
                _apply(projections, [event])
                highest = max(highest, event.position)
            except Exception as error:
                log.exception("event %s (%s/%s/%s #%s) failed; later events of its aggregate wait",
                              event.record.get("event_id"), *key, event.sequence)
                failed.extend(n for n, _ in ordered[position:])
                # Kept for the portal as the embedded projector keeps them (attempts count Lambda's
                # deliveries); once Lambda gives up, an admin's retry applies it from the store.
                for projection in failing:
                    record_failure(projection.name, event, error)
                break
    return highest


def _apply(projections: Sequence[Projection], events: list[StoredEvent]) -> None:
    with transaction.atomic():
        for projection in projections:
            projection.handle(events)
        # A redelivery that now succeeds closes what an earlier delivery recorded as failed.
        FailedProjection.objects.filter(position__in=[e.position for e in events], resolved_at__isnull=True,
                                        projection__in=[p.name for p in projections]).update(resolved_at=timezone.now())


def _advance_checkpoints(projections: Sequence[Projection], highest: int) -> None:
    """Once a batch: the dashboard's lag reads the checkpoints; on this driver they say how far
    the highest applied position is (a later shard may still hold earlier ones)."""
    for projection in projections:
        checkpoint, created = ProjectionCheckpoint.objects.get_or_create(name=projection.name,
                                                                         defaults={"position": highest})
        if not created and checkpoint.position < highest:
            ProjectionCheckpoint.objects.filter(pk=checkpoint.pk, position__lt=highest).update(position=highest)


def _attribute(image: dict, name: str):
    value = image.get(name) or {}
    return value.get("S") if "S" in value else value.get("N")


def stored_event(image: dict) -> StoredEvent:
    """The event a stream record's ``NewImage`` holds, checked: its record must hash to its hash."""
    from boto3.dynamodb.types import TypeDeserializer

    try:
        item = TypeDeserializer().deserialize({"M": image})
        missing = [name for name in ("position", "tenant", "aggregate_type", "aggregate_id", "sk", "record", "hash")
                   if item.get(name) is None]
        if missing:
            raise PoisonRecord(f"missing {', '.join(missing)}")
        record = orjson.loads(item["record"])
        event = StoredEvent(int(item["position"]), item["tenant"], item["aggregate_type"], item["aggregate_id"],
                            int(item["sk"]), item["record"], item["hash"])
    except PoisonRecord:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError) as error:
        raise PoisonRecord(f"{type(error).__name__}: {error}") from error
    if not isinstance(record, dict):
        raise PoisonRecord("the record is not a JSON object")
    identity = (record.get("tenant"), record.get("aggregate_type"), record.get("aggregate_id"), record.get("sequence"))
    if identity != (event.tenant, event.aggregate_type, event.aggregate_id, event.sequence):
        raise PoisonRecord("the record's aggregate or sequence differs from the item's keys")
    try:
        digest = event_hash(record.get("prev_hash", ""), canonicalize(record))
    except CanonicalizationError as error:
        raise PoisonRecord(f"the record cannot be canonicalised: {error}") from error
    if digest != event.hash:
        raise PoisonRecord("the record does not hash to its hash")
    return event


# -- the local driver: Lambda's event source mapping, by polling ---------------------------------


def stream_arn(client=None) -> str:
    """The events table's stream, as ``describe_table`` names it."""
    client = client or aws_client("dynamodb")
    table = client.describe_table(TableName=settings.AUDIT_DYNAMODB_TABLES["events"])["Table"]
    if not table.get("LatestStreamArn"):
        raise RuntimeError(f"table {table['TableName']} has no stream; bootstrap_aws makes it with one")
    return table["LatestStreamArn"]


def poll(*, interval: float, should_stop: Callable[[], bool] = lambda: False, batch_size: int = 100,
         handle: Callable[[dict, object], dict] = handler, until_idle: bool = False) -> None:
    """Read every shard of the events table's stream from its checkpoint and hand batches to
    ``handle`` until ``should_stop()`` (or, with ``until_idle``, a pass that finds nothing new);
    sleep ``interval`` seconds when idle."""
    streams = aws_client("dynamodbstreams")
    arn = stream_arn()
    iterators: dict[str, str | None] = {}  # None: the shard is closed and read to its end
    attempts: dict[str, int] = {}
    jobs = projector_jobs()
    while not should_stop():
        shards = {shard["ShardId"]: shard.get("ParentShardId") for shard in _shards(streams, arn)}
        for shard_id in shards:
            if shard_id not in iterators:
                iterators[shard_id] = _iterator(streams, arn, shard_id)
        read, failing = False, False
        for shard_id, iterator in list(iterators.items()):
            parent = shards.get(shard_id)
            if iterator is None or (parent in iterators and iterators[parent] is not None):
                continue  # as Lambda does: a child shard only once its parent is read to its end
            try:
                answer = streams.get_records(ShardIterator=iterator, Limit=batch_size)
            except streams.exceptions.ExpiredIteratorException:  # iterators last 15 minutes
                iterators[shard_id] = _iterator(streams, arn, shard_id)
                continue
            records = answer.get("Records", [])
            iterators[shard_id] = answer.get("NextShardIterator")
            if not records:
                continue
            records = [as_lambda_delivers(record, arn) for record in records]
            failures = [f["itemIdentifier"] for f in handle({"Records": records}, None)["batchItemFailures"]]
            read, failing = True, failing or bool(failures)
            done = _delivered(records, failures, attempts, arn)
            if done is not None:
                StreamCheckpoint.objects.update_or_create(shard_id=shard_id, defaults={"sequence_number": done})
            if failures and done != records[-1]["dynamodb"]["SequenceNumber"]:
                # Redeliver from the first failure that is not given up on, as Lambda does.
                iterators[shard_id] = _iterator(streams, arn, shard_id, after=done)
        for job in jobs:
            job.tick()
        if not read and until_idle:
            return
        if not read or failing:  # idle, or a failing batch: retried after a pause
            time.sleep(interval)


def as_lambda_delivers(record: dict, arn: str) -> dict:
    """A record as ``get_records`` returns it, in the shape Lambda delivers: with the
    ``eventSourceARN`` (Zappa routes by it) and the creation time in epoch seconds."""
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if hasattr(created, "timestamp"):  # boto3 parses it into a datetime
        record = {**record, "dynamodb": {**record["dynamodb"], "ApproximateCreationDateTime": created.timestamp()}}
    return {**record, "eventSourceARN": arn}


def _delivered(records: list[dict], failures: list[str], attempts: dict[str, int], arn: str) -> str | None:
    """The last sequence number that is done with (applied, or given up on after
    ``MAX_ATTEMPTS`` and sent to the failure queue); None if not even the first."""
    if not failures:
        return records[-1]["dynamodb"]["SequenceNumber"]
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    index = min((numbers.index(f) for f in failures if f in numbers), default=0)  # the first in stream order
    first = numbers[index]
    attempts[first] = attempts.get(first, 0) + 1
    if attempts[first] < MAX_ATTEMPTS:
        return numbers[index - 1] if index else None
    log.error("stream record %s failed %d times; sent to the failure queue and skipped", first, attempts[first])
    _send_to_failure_queue(records[index], arn)
    del attempts[first]
    return first


def _send_to_failure_queue(record: dict, arn: str) -> None:
    """What Lambda's on-failure destination receives: where the record is, not the record."""
    sqs = aws_client("sqs")
    url = sqs.get_queue_url(QueueName=settings.AUDIT_PROCESSOR_FAILURES_QUEUE)["QueueUrl"]
    body = {"DDBStreamBatchInfo": {"streamArn": arn, "startSequenceNumber": record["dynamodb"]["SequenceNumber"],
                                   "endSequenceNumber": record["dynamodb"]["SequenceNumber"], "batchSize": 1},
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": MAX_ATTEMPTS}
    sqs.send_message(QueueUrl=url, MessageBody=orjson.dumps(body).decode())


def _shards(streams, arn: str) -> Iterable[dict]:
    request = {"StreamArn": arn}
    while True:
        description = streams.describe_stream(**request)["StreamDescription"]
        yield from description.get("Shards", [])
        if not description.get("LastEvaluatedShardId"):
            return
        request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def _iterator(streams, arn: str, shard_id: str, after: str | None = None) -> str:
    if after is None:
        checkpoint = StreamCheckpoint.objects.filter(shard_id=shard_id).first()
        after = checkpoint.sequence_number if checkpoint else None
    if after is None:
        options = {"ShardIteratorType": "TRIM_HORIZON"}
    else:
        options = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
    return streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **options)["ShardIterator"]

