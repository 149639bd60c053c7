"""Tests for the demo event generator: shape, coherence, patterns, determinism."""

import datetime
import ipaddress
import itertools
import json
import re
import time
import uuid
from collections import defaultdict

import pytest

from audit_events.demo import TENANTS, generate_events

UNTIL = datetime.datetime(2026, 11, 26, tzinfo=datetime.timezone.utc)
DAYS = 30

EVENT_KEYS = {
    "event_id",
    "tenant",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "actor",
    "trace_id",
    "classification",
    "pii",
    "payload",
}
AGGREGATE_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
AGGREGATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=~-]{0,199}")
EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}")
ACTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=~/-]{0,199}")
TRACE_ID = re.compile(r"[0-9a-f]{32}")
OCCURRED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
CLASSIFICATIONS = {"public", "internal", "confidential", "restricted"}
SAFE_INTEGER = 2**53

EVENT_TYPES = {
    "acme-bank": {
        "AccountOpened",
        "AccountUpdated",
        "AccountFrozen",
        "TransferInitiated",
        "TransferApproved",
        "TransferCompleted",
        "TransferRejected",
        "UserLoggedIn",
        "LoginFailed",
        "PasswordChanged",
        "UserUpdated",
        "StatementExported",
    },
    "st-marys-hospital": {
        "PatientRegistered",
        "PatientRecordViewed",
        "PatientRecordUpdated",
        "PrescriptionIssued",
        "PrescriptionDispensed",
        "StaffUserLoggedIn",
        "EmergencyAccessGranted",
    },
    "northwind-shop": {
        "CustomerRegistered",
        "CustomerUpdated",
        "OrderCreated",
        "OrderPaid",
        "OrderShipped",
        "OrderReturned",
        "OrderRefunded",
    },
}

# Every valid history, complete; a history cut off by the end of the run is
# a prefix of one of these.
LIFECYCLES = {
    "Transfer": (
        ("TransferInitiated", "TransferApproved", "TransferCompleted"),
        ("TransferInitiated", "TransferRejected"),
    ),
    "Order": (
        (
            "OrderCreated",
            "OrderPaid",
            "OrderShipped",
            "OrderReturned",
            "OrderRefunded",
        ),
    ),
    "Prescription": (("PrescriptionIssued", "PrescriptionDispensed"),),
}
# Long-lived aggregates: the creating event comes first, and only once.
CREATED_BY = {
    "Account": "AccountOpened",
    "Patient": "PatientRegistered",
    "Customer": "CustomerRegistered",
}


@pytest.fixture(scope="module")
def events():
    """A typical demo run, shared by the read-only tests below."""
    return list(generate_events(count=5000, seed=7, until=UNTIL, days=DAYS))


def resolve(document, pointer):
    """Return the value an RFC 6901 JSON Pointer names; raise KeyError if none."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict):
            document = document[token]
        elif isinstance(document, list) and re.fullmatch(r"0|[1-9][0-9]*", token):
            if int(token) >= len(document):
                raise KeyError(pointer)
            document = document[int(token)]
        else:
            raise KeyError(pointer)
    return document


def json_values(value):
    """Yield every scalar inside a JSON-like value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from json_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_values(item)
    else:
        yield value


def when(event):
    return datetime.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


def by_aggregate(events):
    streams = defaultdict(list)
    for event in events:
        key = (event["tenant"], event["aggregate_type"], event["aggregate_id"])
        streams[key].append(event)
    return streams


# -- arguments and determinism ---------------------------------------------------


def test_same_arguments_give_identical_events():
    first = list(generate_events(count=800, seed=3, until=UNTIL, days=10))
    second = list(generate_events(count=800, seed=3, until=UNTIL, days=10))
    assert first == second


def test_different_seed_gives_different_events():
    first = list(generate_events(count=200, seed=1, until=UNTIL))
    second = list(generate_events(count=200, seed=2, until=UNTIL))
    assert [e["event_id"] for e in first] != [e["event_id"] for e in second]
    assert [e["payload"] for e in first] != [e["payload"] for e in second]


@pytest.mark.parametrize("count", [0, 1, 2, 17, 1000])
def test_yields_exactly_count_events(count):
    assert sum(1 for _ in generate_events(count=count, until=UNTIL)) == count


def test_until_is_an_instant_whatever_its_zone():
    in_utc = list(generate_events(count=300, until=UNTIL))
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    shifted = list(generate_events(count=300, until=UNTIL.astimezone(plus_two)))
    naive = list(generate_events(count=300, until=UNTIL.replace(tzinfo=None)))
    assert in_utc == shifted == naive


def test_until_defaults_to_todays_midnight_utc():
    def midnight():
        now = datetime.datetime.now(datetime.timezone.utc)
        return now.replace(hour=0, minute=0, second=0, microsecond=0)

    before = midnight()
    produced = list(generate_events(count=50, days=2))
    after = midnight()
    # The day may turn over mid-test; either midnight is then right.
    assert produced in (
        list(generate_events(count=50, until=before, days=2)),
        list(generate_events(count=50, until=after, days=2)),
    )


@pytest.mark.parametrize(
    "arguments",
    [{"count": -1}, {"count": 10, "days": 0}, {"count": 1.5}, {"count": True}],
)
def test_bad_arguments_fail_on_the_call(arguments):
    with pytest.raises(ValueError):
        generate_events(**arguments)  # not iterated: must fail already


def test_is_lazy():
    started = time.perf_counter()
    first = list(itertools.islice(generate_events(count=10**9, until=UNTIL), 5))
    assert len(first) == 5
    assert time.perf_counter() - started < 2  # nothing sized by count up front


# -- shape -----------------------------------------------------------------------


def test_every_event_has_exactly_the_ingest_keys(events):
    for event in events:
        assert set(event) == EVENT_KEYS, event


def test_identifiers_match_the_ingest_patterns(events):
    for event in events:
        assert event["tenant"] in TENANTS
        assert AGGREGATE_TYPE.fullmatch(event["aggregate_type"]), event
        assert AGGREGATE_ID.fullmatch(event["aggregate_id"]), event
        assert EVENT_TYPE.fullmatch(event["event_type"]), event
        assert event["event_type"] in EVENT_TYPES[event["tenant"]], event
        assert TRACE_ID.fullmatch(event["trace_id"]), event
        assert event["classification"] in CLASSIFICATIONS, event
        assert type(event["schema_version"]) is int and event["schema_version"] == 1


def test_event_ids_are_unique_uuid4_strings(events):
    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert parsed.version == 4 and str(parsed) == event_id


def test_actors(events):
    for event in events:
        actor = event["actor"]
        assert ACTOR_ID.fullmatch(actor["id"]), actor
        assert actor["type"] in {"user", "service", "system"}, actor
        keys = {"id", "type", "ip", "user_agent"}
        if actor["type"] == "system":  # may leave out where it ran from
            assert {"id", "type"} <= set(actor) <= keys, actor
        else:
            assert set(actor) == keys, actor
        if "ip" in actor:
            # Private and documentation ranges only: never someone's real address.
            assert ipaddress.ip_address(actor["ip"]).is_private, actor
        if "user_agent" in actor:
            assert actor["user_agent"] and actor["user_agent"].isprintable(), actor
    assert {event["actor"]["type"] for event in events} == {"user", "service", "system"}


def test_occurred_at_is_rfc3339_ordered_and_inside_the_window(events):
    start = UNTIL - datetime.timedelta(days=DAYS)
    previous = start
    for event in events:
        assert OCCURRED_AT.fullmatch(event["occurred_at"]), event
        moment = when(event)
        assert previous <= moment <= UNTIL, event
        previous = moment
    # Spread over the window, not bunched at one end.
    assert when(events[0]) - start < datetime.timedelta(days=1)
    assert UNTIL - when(events[-1]) < datetime.timedelta(days=1)


def test_pii_pointers_resolve_in_the_payload(events):
    for event in events:
        assert isinstance(event["pii"], list)
        assert len(set(event["pii"])) == len(event["pii"]), event
        for pointer in event["pii"]:
            assert pointer.startswith("/"), event
            resolve(event["payload"], pointer)  # raises if it does not resolve
    patients = [e for e in events if e["event_type"] == "PatientRegistered"]
    assert all({"/name", "/date_of_birth", "/ssn"} <= set(e["pii"]) for e in patients)


def leaf_pointers(value, prefix=""):
    """Yield the JSON Pointer of every scalar inside a JSON-like value."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        yield prefix
        return
    for key, item in items:
        token = str(key).replace("~", "~0").replace("/", "~1")
        yield from leaf_pointers(item, f"{prefix}/{token}")


def test_personal_data_is_always_flagged(events):
    personal = {"name", "email", "phone", "ssn", "date_of_birth", "street", "iban"}
    for event in events:
        for pointer in leaf_pointers(event["payload"]):
            # Order lines have product names, not people's.
            if pointer.rsplit("/", 1)[1] in personal and not pointer.startswith(
                "/items/"
            ):
                assert pointer in event["pii"], (pointer, event)


def test_payloads_are_plain_json_without_floats(events):
    for event in events:
        payload = event["payload"]
        assert isinstance(payload, dict)
        for value in json_values(payload):
            assert value is None or isinstance(value, (str, int, bool)), event
            if isinstance(value, int):
                assert -SAFE_INTEGER < value < SAFE_INTEGER, event
        encoded = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        assert len(encoded.encode("utf-8")) < 8 * 1024, event


def test_all_tenants_take_part(events):
    assert {event["tenant"] for event in events} == set(TENANTS)
    produced = {event["event_type"] for event in events}
    assert produced == set().union(*EVENT_TYPES.values())


def test_accepted_by_the_ingest_schema(events):
    schema = pytest.importorskip("audit_events.schema")
    for event in events:
        schema.EventIn.model_validate(event)


# -- coherence -------------------------------------------------------------------


@pytest.mark.parametrize("aggregate_type", sorted(LIFECYCLES))
def test_flows_follow_their_lifecycle(events, aggregate_type):
    streams = [
        stream
        for (_, kind, _), stream in by_aggregate(events).items()
        if kind == aggregate_type
    ]
    assert len(streams) > 20
    progressed = 0
    for stream in streams:
        history = tuple(event["event_type"] for event in stream)
        assert any(
            history == full[: len(history)] for full in LIFECYCLES[aggregate_type]
        ), history
        progressed += len(history) > 1
        # A flow is one business transaction: one trace, one tenant.
        assert len({event["trace_id"] for event in stream}) == 1, history
    # Most flows move on; only those started near the end may not have yet.
    assert progressed > len(streams) * 3 // 4


def test_long_lived_aggregates_are_created_first(events):
    seen = defaultdict(int)
    for (_, kind, _), stream in by_aggregate(events).items():
        if kind in CREATED_BY:
            types = [event["event_type"] for event in stream]
            assert types[0] == CREATED_BY[kind], types
            assert types.count(CREATED_BY[kind]) == 1, types
            seen[kind] += 1
    assert set(seen) == set(CREATED_BY)


def test_accounts_freeze_only_when_active(events):
    frozen = set()
    for event in events:
        if event["aggregate_type"] != "Account":
            continue
        account = event["aggregate_id"]
        if event["event_type"] == "AccountFrozen":
            assert account not in frozen, event
            frozen.add(account)
        elif event["payload"].get("status") == "active":
            frozen.discard(account)


def test_references_point_at_existing_aggregates(events):
    created = set()
    for event in events:
        payload = event["payload"]
        if event["event_type"] in CREATED_BY.values():
            created.add(event["aggregate_id"])
        for field in ("from_account", "to_account", "patient_id", "customer_id"):
            if field in payload:
                assert payload[field] in created, event


def test_money_adds_up(events):
    totals = {}
    for event in events:
        payload = event["payload"]
        if event["event_type"] == "OrderCreated":
            subtotal = sum(
                i["quantity"] * i["unit_price_cents"] for i in payload["items"]
            )
            assert payload["subtotal_cents"] == subtotal
            assert payload["total_cents"] == (
                subtotal + payload["shipping_cents"] + payload["tax_cents"]
            )
            totals[event["aggregate_id"]] = payload["total_cents"]
        elif event["event_type"] in {"OrderPaid", "OrderRefunded"}:
            assert payload["amount_cents"] == totals[event["aggregate_id"]]
        elif event["event_type"].startswith("Transfer"):
            amount = totals.setdefault(event["aggregate_id"], payload["amount_cents"])
            assert payload["amount_cents"] == amount > 0
        for key in ("balance_cents", "from_balance_after_cents"):
            if key in payload:
                assert payload[key] >= 0, event


def test_timelines_are_long(events):
    per_aggregate = defaultdict(int)
    for event in events:
        per_aggregate[event["aggregate_type"], event["aggregate_id"]] += 1
    for kind in ("Account", "Patient", "User", "StaffUser"):
        counts = [n for (k, _), n in per_aggregate.items() if k == kind]
        assert sum(counts) / len(counts) >= 2.5, kind
    actors = {event["actor"]["id"] for event in events}
    assert 20 <= len({a for a in actors if a.startswith("u-")}) <= 120


# -- alert patterns --------------------------------------------------------------


def bursts(times_by_key, size, within):
    """Keys with ``size`` timestamps inside some window of length ``within``."""
    found = set()
    for key, times in times_by_key.items():
        times.sort()
        for earlier, later in zip(times, times[size - 1 :]):
            if later - earlier <= within:
                found.add(key)
    return found


def test_repeated_password_changes_within_minutes(events):
    changes = defaultdict(list)
    for event in events:
        if event["event_type"] == "PasswordChanged":
            changes[event["aggregate_id"]].append(when(event))
    assert bursts(changes, 3, datetime.timedelta(minutes=10))


def test_failed_login_bursts_from_one_ip(events):
    failures = defaultdict(list)
    for event in events:
        if event["event_type"] == "LoginFailed":
            failures[event["actor"]["ip"]].append(when(event))
    assert bursts(failures, 5, datetime.timedelta(minutes=1))


def test_restricted_record_views_outside_business_hours(events):
    night_views = [
        event
        for event in events
        if event["event_type"] == "PatientRecordViewed"
        and event["classification"] == "restricted"
        and when(event).hour < 6
    ]
    assert night_views
    # Mostly a pattern, not the norm: clinicians read charts by day.
    views = sum(1 for e in events if e["event_type"] == "PatientRecordViewed")
    assert len(night_views) < views // 4
