"""Validation of incoming events: every rule names the offending field."""

import json

import pytest

from audit_events.ingest import IngestError, parse_events
from audit_events.schema import MAX_PAYLOAD_BYTES
from tests.conftest import event_dict


def errors_for(event) -> tuple[int, list[dict]]:
    with pytest.raises(IngestError) as caught:
        parse_events(json.dumps(event).encode())
    return caught.value.status, caught.value.errors


def test_a_valid_event_is_normalised():
    (event,), is_batch = parse_events(json.dumps(event_dict()).encode())
    assert not is_batch
    assert event.occurred_at.isoformat() == "2026-11-20T09:30:00.250000+01:00"
    assert event.schema_version == 1 and event.event_id is None
    assert event.classification.value == "confidential"


def test_defaults():
    (event,), _ = parse_events(
        json.dumps(event_dict(classification=None, pii=None, trace_id=None)).encode()
    )
    assert event.classification.value == "internal"
    assert event.pii == [] and event.trace_id is None


def test_ipv6_is_normalised():
    actor = {"id": "u1", "type": "user", "ip": "2001:DB8:0:0::1"}
    (event,), _ = parse_events(json.dumps(event_dict(actor=actor)).encode())
    assert event.actor.ip == "2001:db8::1"


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


BAD = [
    ({"tenant": None}, "tenant", "Field required"),
    ({"tenant": "Acme"}, "tenant", "pattern"),
    ({"tenant": "a" * 64}, "tenant", "pattern"),
    ({"tenant": "acme bank"}, "tenant", "pattern"),
    ({"aggregate_type": "1Account"}, "aggregate_type", "pattern"),
    ({"aggregate_id": "acc/1"}, "aggregate_id", "pattern"),
    ({"aggregate_id": "x" * 201}, "aggregate_id", "pattern"),
    ({"event_type": "Account Updated"}, "event_type", "pattern"),
    ({"event_type": None}, "event_type", "Field required"),
    ({"schema_version": 0}, "schema_version", "greater than or equal to 1"),
    ({"schema_version": "1"}, "schema_version", "valid integer"),
    ({"schema_version": True}, "schema_version", "valid integer"),
    ({"occurred_at": "2026-11-20T09:30:00"}, "occurred_at", "RFC 3339"),
    ({"occurred_at": 1763630000}, "occurred_at", "RFC 3339"),
    ({"occurred_at": "yesterday"}, "occurred_at", "RFC 3339"),
    ({"occurred_at": "2026-02-30T09:30:00Z"}, "occurred_at", "not a valid date-time"),
    ({"actor": None}, "actor", "Field required"),
    ({"actor": {"id": "u1", "type": "robot"}}, "actor.type", "'user', 'service' or 'system'"),
    ({"actor": {"id": "u1", "type": "user", "ip": "300.1.1.1"}}, "actor.ip", "IPv4 or IPv6"),
    ({"actor": {"id": "u1", "type": "user", "extra": 1}}, "actor.extra", "Extra inputs"),
    ({"actor": {"id": "", "type": "user"}}, "actor.id", "pattern"),
    ({"actor": {"id": "u1", "type": "user", "user_agent": "a\nb"}}, "actor.user_agent", "pattern"),
    ({"trace_id": "has space"}, "trace_id", "pattern"),
    ({"classification": "secret"}, "classification", "'public', 'internal', 'confidential' or 'restricted'"),
    ({"pii": ["/nope"]}, "pii", "does not resolve"),
    ({"pii": ["/holder/name", "/holder/name"]}, "pii", "listed twice"),
    ({"pii": [""]}, "pii", "whole payload"),
    ({"pii": ["holder"]}, "pii", "must start with '/'"),
    ({"payload": [1, 2]}, "payload", "valid dictionary"),
    ({"payload": None}, "payload", "Field required"),
    ({"payload": {"n": 2**53}}, "payload", "outside ±(2^53-1)"),
    ({"payload": {"a": _nested(40)}}, "payload", "nested deeper"),
    ({"payload": {"x": "\ud800"}}, "payload", "lone UTF-16 surrogate"),
    ({"payload": {"\udc00": 1}}, "payload", "lone UTF-16 surrogate"),
    ({"payload": {"n": 2**70}}, "payload", "outside ±(2^53-1)"),
    ({"actor": {"id": "u1", "type": "user", "user_agent": "x\ud800"}}, "actor.user_agent", "valid string"),
    ({"actor": {"id": "u1", "type": "user", "ip": "fe80::1%eth0"}}, "actor.ip", "no zone id"),
    ({"actor": {"id": "u1", "type": "user", "ip": "1" * 46}}, "actor.ip", "at most 45"),
    ({"occurred_at": "0001-01-01T00:30:00+01:00"}, "occurred_at", "outside the range"),
    ({"occurred_at": "9999-12-31T23:30:00-01:00"}, "occurred_at", "outside the range"),
    ({"expected_sequence": -1}, "expected_sequence", "greater than or equal to 0"),
    ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
    ({"unknown_field": 1}, "unknown_field", "Extra inputs"),
    ({"sequence": 5}, "sequence", "Extra inputs"),
    ({"hash": "ab"}, "hash", "Extra inputs"),
]


@pytest.mark.parametrize("overrides, field, message", BAD, ids=[f"{b[1]}:{i}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_field(overrides, field, message):
    event = event_dict()
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    status, errors = errors_for(event)
    assert status == 422
    assert any(e["field"] == field and message in e["message"] for e in errors), errors


def test_batch_errors_carry_the_event_index():
    body = {"events": [event_dict(), event_dict(actor={"id": "u1", "type": "robot"})]}
    status, errors = errors_for(body)
    assert status == 422
    assert errors[0]["field"] == "events[1].actor.type"


def test_oversized_payload_is_413():
    status, errors = errors_for(event_dict(payload={"blob": "x" * MAX_PAYLOAD_BYTES}))
    assert status == 413
    assert errors[0]["field"] == "payload" and "limit is 65536" in errors[0]["message"]


@pytest.mark.parametrize(
    "body, status, text",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"tenant": NaN}', 400, "NaN is not a JSON number"),
        (b'{"payload": {"x": 1e400}}', 400, "out of range"),
        (b'{"tenant": "a", "tenant": "b"}', 400, "duplicate member name 'tenant'"),
        (b"[1, 2]", 422, ""),
        (b'{"events": []}', 422, ""),
        (b'{"events": {}}', 422, ""),
        (json.dumps({"events": [event_dict()] * 501}).encode(), 413, "at most 500 events"),
    ],
)
def test_body_level_errors(body, status, text):
    with pytest.raises(IngestError) as caught:
        parse_events(body)
    assert caught.value.status == status
    assert text in caught.value.detail
