"""Replay: reducers, state at a sequence or a moment (both timelines), diffs, and the API."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_events.replay import ReplayedState, diff_states, reduce_event, register_reducer
from audit_events.state import merge_patch
from audit_events.store import get_event_store
from tests.conftest import ApiClient
from tests.audit_events.store.contracts import event

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def rec(event_type, payload, aggregate_type="Account"):
    return {"event_type": event_type, "aggregate_type": aggregate_type, "payload": payload}


def test_default_reducer_merges_created_resets_deleted_marks():
    state = ReplayedState()
    state = reduce_event(state, rec("AccountCreated", {"a": 1, "b": 2}))
    state = reduce_event(state, rec("AccountUpdated", {"b": None, "c": 3}))
    assert state == ReplayedState({"a": 1, "c": 3})
    state = reduce_event(state, rec("AccountDeleted", {}))
    assert state.deleted and state.state == {"a": 1, "c": 3}
    state = reduce_event(state, rec("AccountCreated", {"z": 0}))
    assert state == ReplayedState({"z": 0})


def test_registered_reducer_takes_precedence():
    register_reducer("Counter", "Incremented",
                     lambda s, r: ReplayedState({"n": s.state.get("n", 0) + r["payload"]["by"]}))
    state = ReplayedState()
    for _ in range(3):
        state = reduce_event(state, rec("Incremented", {"by": 2}, aggregate_type="Counter"))
    assert state.state == {"n": 6}


patches = st.recursive(
    st.none() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(max_size=3),
    lambda children: st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3),
    max_leaves=8,
).filter(lambda p: isinstance(p, dict))


@settings(max_examples=200, deadline=None)
@given(st.lists(patches, max_size=8))
def test_fold_is_the_merge_of_payloads(payloads):
    state, expected = ReplayedState(), {}
    for payload in payloads:
        state = reduce_event(state, rec("Changed", payload))
        expected = merge_patch(expected, payload)
    assert state.state == expected


def test_diff_is_field_level():
    diff = diff_states({"a": 1, "b": {"c": 2, "d": 3}, "gone": True}, {"a": 2, "b": {"c": 2, "e": 4}, "new": 1})
    assert diff.changed == {"/a": {"old": 1, "new": 2}}
    assert diff.removed == {"/b/d": 3, "/gone": True}
    assert diff.added == {"/b/e": 4, "/new": 1}


@pytest.fixture
def history(db):
    store = get_event_store()
    store.append([
        event(aggregate_id="acc-7", event_type="AccountCreated", occurred_at=(T0).isoformat(),
              payload={"holder": {"name": "Ann Secret-Name"}, "status": "open", "limit": 100}),
        event(aggregate_id="acc-7", event_type="LimitChanged", occurred_at=(T0 + timedelta(hours=2)).isoformat(),
              pii=[], payload={"limit": 500}),
    ])
    # Recorded last but occurred in between: a late event.
    store.append([event(aggregate_id="acc-7", event_type="StatusChanged", pii=[],
                        occurred_at=(T0 + timedelta(hours=1)).isoformat(), payload={"status": "frozen"})])
    return store


@pytest.fixture
def auditor_api(client, make_person, token_for):
    return lambda pii=True: ApiClient(client, token_for(make_person(f"aud-{pii}", tenants=["acme"], pii=pii)))


STATE = "/api/v1/aggregates/acme/Account/acc-7/state"


def test_state_at_each_sequence_and_verified(history, auditor_api):
    api = auditor_api()
    body = api.get(STATE, data={"sequence": 2}).json()
    assert body["state"] == {"holder": {"name": "Ann Secret-Name"}, "status": "open", "limit": 500}
    assert body["sequence"] == 2 and body["verified"] is True
    assert api.get(STATE).json()["state"]["status"] == "frozen"


def test_business_time_places_the_late_event_where_it_belongs(history, auditor_api):
    api = auditor_api()
    between = (T0 + timedelta(minutes=90)).isoformat()
    business = api.get(STATE, data={"at": between}).json()
    assert business["state"]["status"] == "frozen" and business["state"]["limit"] == 100
    recorded = api.get(STATE, data={"at": between, "time": "recorded"}).json()
    assert recorded["sequence"] == 0  # nothing had been recorded by then (recorded today)
    now = datetime.now(timezone.utc).isoformat()
    assert api.get(STATE, data={"at": now, "time": "recorded"}).json()["sequence"] == 3


def test_state_and_diff_are_masked_for_readers_without_personal_data(history, auditor_api):
    api = auditor_api(pii=False)
    response = api.get(STATE)
    assert b"Secret-Name" not in response.content
    assert response.json()["state"]["holder"]["name"] == {"masked": True}
    diff = api.get("/api/v1/aggregates/acme/Account/acc-7/diff", data={"from_sequence": 1, "to_sequence": 3})
    assert b"Secret-Name" not in diff.content
    assert diff.json()["changed"] == {"/limit": {"old": 100, "new": 500}, "/status": {"old": "open", "new": "frozen"}}


def test_out_of_scope_is_404_and_reads_are_audited(history, client, make_person, token_for):
    from audit_events.models import StoredEvent

    stranger = ApiClient(client, token_for(make_person("stranger", tenants=["globex"])))
    assert stranger.get(STATE).status_code == 404
    assert stranger.get("/api/v1/aggregates/acme/Account/acc-7/diff",
                        data={"from_sequence": 1, "to_sequence": 2}).status_code == 404
    kinds = list(StoredEvent.objects.filter(tenant="_portal").values_list("event_type", flat=True))
    assert "ReadRefused" in kinds


@pytest.mark.parametrize("params", [{"sequence": 1, "at": T0.isoformat()}, {"at": "2026-11-01T09:00:00"}])
def test_bad_state_parameters(history, auditor_api, params):
    assert auditor_api().get(STATE, data=params).status_code in (400, 422)


def test_a_tampered_chain_is_reported_unverified(history, auditor_api, db):
    from django.db import connection

    from audit_events import triggers

    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET hash = %s WHERE aggregate_id = 'acc-7' AND sequence = 2", ("0" * 64,))
    assert auditor_api().get(STATE).json()["verified"] is False


def test_state_and_diff_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/state" in paths
    assert "/api/v1/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/diff" in paths


def test_trace_and_actor_views_cross_aggregates_within_access(db, client, make_person, token_for):
    from audit_events.projector import catch_up
    from audit_events.models import StoredEvent

    store = get_event_store()
    store.append([
        event(aggregate_id="acc-1", trace_id="t-1", pii=[], payload={}, occurred_at=T0.isoformat(),
              actor={"id": "u-kim", "type": "user"}),
        event(aggregate_type="Transfer", aggregate_id="tr-9", trace_id="t-1", pii=[], payload={},
              occurred_at=(T0 + timedelta(minutes=5)).isoformat(), actor={"id": "u-kim", "type": "user"}),
        event(tenant="globex", aggregate_id="g-1", trace_id="t-1", pii=[], payload={},
              actor={"id": "u-kim", "type": "user"}),
    ])
    catch_up()
    api = ApiClient(client, token_for(make_person("aud", tenants=["acme"])))
    trace = api.get("/api/v1/traces/t-1/events").json()
    assert [e["aggregate_id"] for e in trace["results"]] == ["acc-1", "tr-9"]  # globex is out of scope
    actor = api.get("/api/v1/actors/u-kim/events", data={"from": (T0 - timedelta(hours=1)).isoformat(),
                                                         "to": (T0 + timedelta(hours=1)).isoformat()}).json()
    assert actor["total"] == 2
    kinds = set(StoredEvent.objects.filter(tenant="_portal").values_list("event_type", flat=True))
    assert {"TraceViewed", "ActorActivityViewed"} <= kinds


@pytest.fixture
def long_history(db, settings):
    settings.AUDIT_SNAPSHOT_EVERY = 10
    store = get_event_store()
    store.append([event(aggregate_id="big", event_type="Changed", pii=[], payload={"n": n, f"k{n % 4}": n},
                        occurred_at=(T0 + timedelta(minutes=n)).isoformat()) for n in range(1, 36)])
    from audit_events.projector import catch_up

    catch_up()
    return store


def fold_from_genesis(store, sequence):
    state = ReplayedState()
    for item in store.read_aggregate("acme", "Account", "big", limit=1000):
        if item.sequence <= sequence:
            state = reduce_event(state, item.record)
    return state.state


def test_snapshot_plus_tail_equals_full_replay_at_every_sequence(long_history, auditor_api):
    from audit_events.models import AggregateSnapshot

    assert list(AggregateSnapshot.objects.order_by("sequence").values_list("sequence", flat=True)) == [10, 20, 30]
    api = auditor_api()
    for sequence in range(1, 36):
        body = api.get("/api/v1/aggregates/acme/Account/big/state", data={"sequence": sequence}).json()
        assert body["state"] == fold_from_genesis(long_history, sequence), sequence
        assert body["sequence"] == sequence and body["verified"] is True


def test_a_tampered_snapshot_is_ignored(long_history, auditor_api):
    from audit_events.models import AggregateSnapshot

    AggregateSnapshot.objects.filter(sequence=30).update(state={"forged": True})
    AggregateSnapshot.objects.filter(sequence=20).update(last_hash="0" * 64, state={"forged": True})
    api = auditor_api()
    body = api.get("/api/v1/aggregates/acme/Account/big/state", data={"sequence": 25}).json()
    assert body["state"] == fold_from_genesis(long_history, 25)  # 20 no longer matches the chain
    AggregateSnapshot.objects.filter(sequence=10).update(reducer_version=0, state={"forged": True})
    body = api.get("/api/v1/aggregates/acme/Account/big/state", data={"sequence": 15}).json()
    assert body["state"] == fold_from_genesis(long_history, 15)  # made under an older reducer


def test_snapshots_do_not_serve_readers_who_may_not_see_everything(long_history, client, make_person, token_for):
    from audit_events.models import AggregateSnapshot

    AggregateSnapshot.objects.filter(sequence=30).update(state={"leak": "unmasked"})
    reader = make_person("masked", tenants=["acme"], pii=False)
    body = ApiClient(client, token_for(reader)).get("/api/v1/aggregates/acme/Account/big/state").json()
    assert "leak" not in body["state"]  # no view of personal data: replayed from the start


@pytest.mark.django_db
def test_replay_at_every_sequence_equals_the_fold_from_genesis_for_random_streams(settings):
    """Random payload streams, snapshots every 3 events: every replayed state equals the plain fold."""
    import itertools

    from audit_events.projections.snapshots import SnapshotProjection
    from audit_events.projector import catch_up
    from audit_events.replay import state_at
    from portal.access.policy import PolicySpec, Subject
    from tests.audit_events.search.contracts import SubjectReader

    settings.AUDIT_SNAPSHOT_EVERY = 3
    store = get_event_store()
    reader = SubjectReader(Subject(username="t", pii=True, policies=(
        PolicySpec(effect="allow", actions=["*"], conditions=[]),)))
    names = itertools.count()
    kinds = st.sampled_from(["Changed", "Changed", "AccountCreated", "AccountDeleted"])

    @settings_(max_examples=25, deadline=None)
    @given(st.lists(st.tuples(kinds, patches), min_size=1, max_size=12))
    def check(stream):
        aggregate_id = f"rand-{next(names)}"
        store.append([event(aggregate_id=aggregate_id, event_type=kind, pii=[], payload=payload)
                      for kind, payload in stream])
        catch_up(projections=[SnapshotProjection()])
        expected = ReplayedState()
        for sequence, (kind, payload) in enumerate(stream, start=1):
            expected = reduce_event(expected, rec(kind, payload))
            result = state_at(store, reader, "acme", "Account", aggregate_id, sequence=sequence)
            assert (result.state, result.deleted, result.verified) == (expected.state, expected.deleted, True)

    check()


settings_ = settings  # hypothesis's settings, shadowed by the pytest-django fixture inside the test


def test_a_forged_snapshot_state_is_ignored_even_with_its_hash_intact(long_history, auditor_api):
    from audit_events.models import AggregateSnapshot

    AggregateSnapshot.objects.filter(sequence=10).update(state={"forged": True, "n": 999})
    body = auditor_api().get("/api/v1/aggregates/acme/Account/big/state", data={"sequence": 12}).json()
    assert body["state"] == fold_from_genesis(long_history, 12)


def test_snapshots_made_under_other_upcasters_are_ignored(long_history, auditor_api):
    from audit_events.schemas import clear_registry, register_upcaster

    register_upcaster("Changed", 1, lambda p: {**p, "upcast": True})
    try:
        body = auditor_api().get("/api/v1/aggregates/acme/Account/big/state", data={"sequence": 20}).json()
        assert body["state"]["upcast"] is True and body["verified_from"] == 1  # replayed from the start
    finally:
        clear_registry()


@pytest.fixture
def personal_history(db, settings):
    """35 events, every third naming the holder (personal data); snapshots every 10."""
    settings.AUDIT_SNAPSHOT_EVERY = 10
    store = get_event_store()
    store.append([
        event(aggregate_id="pers", event_type="Changed", payload={"n": n, "holder": {"name": f"Name {n}"}},
              pii=["/holder/name"], occurred_at=(T0 + timedelta(minutes=n)).isoformat())
        if n % 3 == 0 else
        event(aggregate_id="pers", event_type="Changed", payload={"n": n}, pii=[],
              occurred_at=(T0 + timedelta(minutes=n)).isoformat())
        for n in range(1, 36)
    ])
    from audit_events.projector import catch_up

    catch_up()
    return store


def test_readers_without_personal_data_replay_from_the_masked_fold(personal_history, client, make_person, token_for):
    from audit_events.masking import mask_record

    api = ApiClient(client, token_for(make_person("masked", tenants=["acme"], pii=False)))
    for sequence in range(1, 36):
        body = api.get("/api/v1/aggregates/acme/Account/pers/state", data={"sequence": sequence}).json()
        expected = ReplayedState()
        for item in personal_history.read_aggregate("acme", "Account", "pers", limit=1000, before=sequence + 1):
            expected = reduce_event(expected, mask_record(item.record))
        assert body["state"] == expected.state, sequence
        assert "Name" not in json.dumps(body)
        assert body["verified_from"] == (sequence // 10) * 10 + 1  # from the snapshot, when there is one


def test_readers_with_personal_data_on_some_events_only_replay_from_the_start(
        personal_history, client, make_person, token_for):
    # Personal data only on events up to "confidential": the restricted one is masked.
    from audit_events.models import AggregateSnapshot
    from portal.access.models import Policy

    reader = make_person("partial", tenants=["acme"], pii=True, policies=[
        {"effect": "allow", "actions": ["replay_state"], "conditions": []},
        {"effect": "allow", "actions": ["view_pii"], "conditions": [
            {"attr": "classification", "op": "lte", "value": "internal"}]},
    ])
    assert Policy.objects.filter(role__members=reader).count() == 2
    get_event_store().append([event(aggregate_id="pers", event_type="Changed", classification="internal",
                                    payload={"holder": {"name": "Visible Name"}}, pii=["/holder/name"])])
    assert AggregateSnapshot.objects.filter(aggregate_id="pers").exists()
    body = ApiClient(client, token_for(reader)).get("/api/v1/aggregates/acme/Account/pers/state").json()
    assert body["verified_from"] == 1 and body["state"]["holder"]["name"] == "Visible Name"


def test_state_at_a_recorded_moment_is_what_the_log_held_then(db, auditor_api):
    """Recorded time: a binary search for the prefix the log held, then replay by sequence."""
    store = get_event_store()
    store.append([event(aggregate_id="rec", pii=[], payload={"n": 1})])
    between = datetime.now(timezone.utc)
    store.append([event(aggregate_id="rec", pii=[], payload={"n": 2})])
    store.append([event(aggregate_id="rec", pii=[], payload={"n": 3})])
    api = auditor_api()
    for moment, expected in [(between, {"n": 1}), (datetime.now(timezone.utc), {"n": 3})]:
        body = api.get("/api/v1/aggregates/acme/Account/rec/state",
                       data={"at": moment.isoformat(), "time": "recorded"}).json()
        assert body["state"] == expected
    first = store.read_aggregate("acme", "Account", "rec", limit=1)[0]
    body = api.get("/api/v1/aggregates/acme/Account/rec/state", data={"at": between.isoformat(), "time": "recorded"}).json()
    assert body["as_of"] == first.record["recorded_at"]


@pytest.mark.django_db
def test_business_time_equals_the_fold_by_occurrence_for_random_late_arrivals(settings):
    """Random occurrence times (mostly rising, some late), snapshots every 3 events: the state
    as of every moment equals the fold, in occurrence order, of what had occurred by then,
    whether it came from a snapshot or from a replay of the events."""
    import itertools

    from audit_events.projections.snapshots import SnapshotProjection
    from audit_events.projector import catch_up
    from audit_events.replay import state_at
    from portal.access.policy import PolicySpec, Subject
    from tests.audit_events.search.contracts import SubjectReader

    settings.AUDIT_SNAPSHOT_EVERY = 3
    store = get_event_store()
    reader = SubjectReader(Subject(username="t", pii=True, policies=(
        PolicySpec(effect="allow", actions=["*"], conditions=[]),)))
    names = itertools.count()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    steps = st.one_of(st.integers(0, 5), st.integers(-20, -1))  # mostly forward, sometimes late

    @settings_(max_examples=25, deadline=None)
    @given(st.lists(st.tuples(steps, patches), min_size=1, max_size=14))
    def check(stream):
        aggregate_id = f"late-{next(names)}"
        minutes, moments = 100, []
        for step, _ in stream:
            minutes += step
            moments.append(start + timedelta(minutes=minutes))
        store.append([event(aggregate_id=aggregate_id, event_type="Changed", pii=[], payload=payload,
                            occurred_at=moment.isoformat())
                      for moment, (_, payload) in zip(moments, stream)])
        catch_up(projections=[SnapshotProjection()])
        for at in sorted(set(moments) | {start, max(moments) + timedelta(minutes=1)}):
            expected = ReplayedState()
            for _, n, payload in sorted((m, n, p) for n, (m, (_, p)) in enumerate(zip(moments, stream)) if m <= at):
                expected = reduce_event(expected, rec("Changed", payload))
            result = state_at(store, reader, "acme", "Account", aggregate_id, at=at, time="occurred")
            assert (result.state, result.deleted) == (expected.state, expected.deleted), at

    check()
