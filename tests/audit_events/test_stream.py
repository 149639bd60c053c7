"""The stream processor, fed the records the test server's DynamoDB stream really holds."""

import copy

import orjson
import pytest
from django.core.management import call_command

from audit_events.models import AggregateState, FailedProjection, ProjectionCheckpoint, SearchDocument, StreamCheckpoint
from audit_events.projections import configured_projections
from audit_events.store import get_event_store
from audit_events.stream import MAX_ATTEMPTS, as_lambda_delivers, handler, poll, stream_arn
from tests.audit_events.store.contracts import event

pytestmark = [pytest.mark.django_db, pytest.mark.parametrize("audit_store", ["dynamodb"], indirect=True)]


def stream_records(aws_client) -> list[dict]:
    return read_stream(aws_client("dynamodbstreams"), stream_arn())


def read_stream(streams, arn: str) -> list[dict]:
    """Every record of a DynamoDB stream, as Lambda delivers them (with the ``eventSourceARN``
    Lambda adds, which Zappa routes by)."""
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            answer = streams.get_records(ShardIterator=iterator)
            records += answer["Records"]
            iterator = answer.get("NextShardIterator") if answer["Records"] else None
    return [as_lambda_delivers(record, arn) for record in records]


def events_of(records, aggregate_id=None) -> list[dict]:
    return [r for r in records if r["eventName"] == "INSERT" and r["dynamodb"]["NewImage"]["kind"]["S"] == "event"
            and (aggregate_id is None or r["dynamodb"]["NewImage"]["aggregate_id"]["S"] == aggregate_id)]


def state(aggregate_id):
    row = AggregateState.objects.filter(aggregate_id=aggregate_id).first()
    return (row.sequence, row.state) if row else None


def numbers(records) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in records]


def failures(answer) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def test_a_batch_feeds_every_projection_and_redelivery_changes_nothing(aws_client):
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": 1}, pii=[]), event(aggregate_id="b", payload={"m": 1}, pii=[]),
                  event(aggregate_id="a", payload={"n": 2}, pii=[])])
    records = stream_records(aws_client)
    assert len(events_of(records)) == 3 and len(records) > 3  # guards, heads and the counter too
    assert handler({"Records": records}, None) == {"batchItemFailures": []}
    assert state("a") == (2, {"n": 2}) and state("b") == (1, {"m": 1})
    assert SearchDocument.objects.count() == 3
    # The checkpoints say how far the stream is applied (what the dashboard's lag reads).
    assert set(ProjectionCheckpoint.objects.values_list("position", flat=True)) == {store.last_position()}

    # The same records again, twice over and out of order: nothing changes twice.
    again = events_of(records)[::-1] + events_of(records)
    assert handler({"Records": again}, None) == {"batchItemFailures": []}
    assert state("a") == (2, {"n": 2}) and SearchDocument.objects.count() == 3


def test_a_gap_stops_that_aggregate_only_and_is_retried(aws_client):
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": 1}, pii=[])])
    first = events_of(stream_records(aws_client))
    store.append([event(aggregate_id="a", payload={"n": 2}, pii=[]), event(aggregate_id="a", payload={"n": 3}, pii=[]),
                  event(aggregate_id="b", payload={"m": 1}, pii=[])])
    later = events_of(stream_records(aws_client))[1:]
    # A failure in the middle of a batch: a's #2 comes without #1 being applied first.
    # (#2 and #3 of a cannot apply; b carries on.)
    assert failures(handler({"Records": later}, None)) == numbers(later[:2])
    assert state("a") is None and state("b") == (1, {"m": 1})
    # Kept for the portal, for every projection (none applied it); attempts count deliveries.
    kept = FailedProjection.objects.filter(resolved_at__isnull=True)
    assert {(f.aggregate_id, f.sequence, f.attempts) for f in kept} == {("a", 2, 1)}
    assert {f.projection for f in kept} == {p.name for p in configured_projections()}
    # Lambda retries from the first failure once #1 is in: all of a, in order.
    assert failures(handler({"Records": first + later}, None)) == []
    assert state("a") == (3, {"n": 3})
    assert not FailedProjection.objects.filter(resolved_at__isnull=True).exists()


def test_a_poison_record_fails_with_the_rest_of_its_aggregate(aws_client):
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": 1}, pii=[]), event(aggregate_id="a", payload={"n": 2}, pii=[]),
                  event(aggregate_id="b", payload={"m": 1}, pii=[])])
    records = copy.deepcopy(events_of(stream_records(aws_client)))
    image = records[0]["dynamodb"]["NewImage"]
    tampered = orjson.loads(image["record"]["S"]) | {"payload": {"n": 666}}
    image["record"]["S"] = orjson.dumps(tampered).decode()
    records.append({**records[2], "dynamodb": {**records[2]["dynamodb"], "SequenceNumber": "9" * 30,
                                               "NewImage": {"kind": {"S": "event"}, "record": {"S": "{not json"}}}})
    assert failures(handler({"Records": records}, None)) == numbers(records[:2]) + ["9" * 30]
    assert state("a") is None and state("b") == (1, {"m": 1})


def test_poll_reads_the_shards_like_the_event_source_mapping_and_keeps_checkpoints(aws_client):
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": 1}, pii=[])])
    poll(interval=0, until_idle=True)
    assert state("a") == (1, {"n": 1}) and StreamCheckpoint.objects.count() == 1
    store.append([event(aggregate_id="a", payload={"n": 2}, pii=[])])
    call_command("run_projector", "--once")  # the same poller, through the command
    assert state("a") == (2, {"n": 2})


def test_poll_gives_up_on_a_failing_record_and_sends_it_to_the_failure_queue(aws_client, settings):
    settings.AUDIT_PROCESSOR_FAILURES_QUEUE = "processor-failures-test"
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName=settings.AUDIT_PROCESSOR_FAILURES_QUEUE)["QueueUrl"]
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": 1}, pii=[]), event(aggregate_id="b", payload={"m": 1}, pii=[])])
    calls = []

    def failing_a(batch, context):  # the real handler, with aggregate a's events failing every time
        calls.append(1)
        bad = [r for r in events_of(batch["Records"], "a")]
        good = [r for r in batch["Records"] if r not in bad]
        handler({"Records": good}, context)
        return {"batchItemFailures": [{"itemIdentifier": n} for n in numbers(bad)]}

    poll(interval=0, until_idle=True, handle=failing_a)
    assert len(calls) >= MAX_ATTEMPTS and state("a") is None and state("b") == (1, {"m": 1})
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert orjson.loads(message["Body"])["condition"] == "RetryAttemptsExhausted"


def test_events_applied_before_a_failure_reach_the_batch_wide_alerts_too(aws_client):
    """An aggregate's failure holds back its tail, not the events before it: those are applied
    to every projection (and are not retried), the alerts evaluated over the batch included."""
    from audit_events.models import Alert, AlertRule

    AlertRule.objects.create(name="test-any-update", severity="high", spec={
        "kind": "match", "event_types": ["AccountUpdated"], "min_classification": "public", "window_seconds": 60})
    store = get_event_store()
    store.append([event(aggregate_id="a", payload={"n": n}, pii=[]) for n in (1, 2, 3)])
    first, _, third = events_of(stream_records(aws_client))
    # a's #3 comes without #2: #1 applies, #3 fails and is retried later.
    assert failures(handler({"Records": [first, third]}, None)) == numbers([third])
    assert state("a") == (1, {"n": 1})
    assert Alert.objects.filter(rule__name="test-any-update").count() == 1
