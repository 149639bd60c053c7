"""The projector and the latest-state projection."""

import pytest
from django.core.management import call_command

from audit_events.models import AggregateState, ProjectionCheckpoint
from audit_events.projections.latest_state import LatestStateProjection, ProjectionGapError
from audit_events.projector import catch_up, rebuild
from audit_events.state import merge_patch
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event

pytestmark = pytest.mark.django_db


def append(*payloads, aggregate_id="acc-1"):
    return get_event_store().append(
        [event(aggregate_id=aggregate_id, payload=p, pii=[]) for p in payloads]
    )


def state_of(aggregate_id="acc-1"):
    return AggregateState.objects.get(aggregate_id=aggregate_id)


def test_merge_patch_follows_rfc_7396():
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == {
        "a": "z",
        "c": {"d": "e"},
    }
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": 1}, {"b": {"c": None}}) == {"a": 1, "b": {}}


PROJECTIONS = ("latest_state", "search", "snapshots", "access_log", "alerts", "merkle_log")


def test_catch_up_projects_latest_state_and_checkpoints():
    append({"status": "open", "balance": 10}, {"balance": 20}, {"owner": {"name": "Ann"}})
    append({"status": "open"}, aggregate_id="acc-2")
    assert catch_up() == {name: 4 for name in PROJECTIONS}
    state = state_of()
    assert state.state == {"status": "open", "balance": 20, "owner": {"name": "Ann"}}
    assert state.sequence == 3
    assert ProjectionCheckpoint.objects.get(name="latest_state").position == get_event_store().read_all()[-1].position
    append({"status": None})
    assert catch_up() == {name: 1 for name in PROJECTIONS}
    assert state_of().state == {"balance": 20, "owner": {"name": "Ann"}}
    assert catch_up() == {name: 0 for name in PROJECTIONS}


def test_handling_the_same_events_twice_changes_nothing():
    append({"n": 1}, {"n": 2})
    events = get_event_store().read_all()
    projection = LatestStateProjection()
    projection.handle(events)
    projection.handle(events)  # a redelivery
    projection.handle(events[:1])
    assert state_of().state == {"n": 2} and state_of().sequence == 2


def test_a_gap_is_refused_not_skipped():
    append({"n": 1}, {"n": 2})
    events = get_event_store().read_all()
    with pytest.raises(ProjectionGapError):
        LatestStateProjection().handle(events[1:])


def test_small_batches_give_the_same_state():
    append(*({"n": n, f"k{n % 3}": n} for n in range(10)))
    catch_up(batch_size=3)
    expected = state_of().state
    rebuild(LatestStateProjection())
    assert not AggregateState.objects.exists()
    catch_up(batch_size=1000)
    assert state_of().state == expected


def test_run_projector_once_command(capsys):
    append({"n": 1})
    call_command("run_projector", "--once")
    out = capsys.readouterr().out
    assert "latest_state: 1 events" in out and "search: 1 events" in out
    assert state_of().state == {"n": 1}


def test_run_forever_catches_up_then_stops_when_told():
    append({"n": 1})
    from audit_events.projector import run_forever

    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2  # one busy round, one idle round, then stop

    run_forever(interval=0.01, should_stop=should_stop)
    assert state_of().state == {"n": 1}


def test_run_projector_rebuild_replays_from_the_start(capsys):
    append({"n": 1}, {"n": 2})
    call_command("run_projector", "--once")
    AggregateState.objects.update(state={"corrupted": True})
    call_command("run_projector", "--once", "--rebuild")
    assert state_of().state == {"n": 2}


def test_run_projector_once_refreshes_sqlite_planner_statistics():
    from django.core.management import call_command
    from django.db import connection

    append({"status": "open"})
    call_command("run_projector", once=True, stdout=open("/dev/null", "w"))
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'audit_search_document'")
            assert cursor.fetchone()[0] > 0
