"""Sliding and fixed windows of event time, as pure functions: for every arrival order, an
alert exactly when ``count`` events fall within the window; redelivery changes nothing."""

import random

from hypothesis import given, settings, strategies as st

from audit_events.alerts.windows import Fact, advance

SECOND = 1000


def fact(n: int, at_ms: int) -> Fact:
    return Fact(at_ms, f"e{n}", "acme", "User", "u-1", n + 1, "PasswordChanged")


def run(facts, *, count=3, window_ms=300 * SECOND, lateness_ms=10**9, mode="sliding", state=None, closed=None):
    return advance(state or {}, facts, mode=mode, count=count, window_ms=window_ms, lateness_ms=lateness_ms,
                   cap=10_000, closed=closed)


def some_window(times, count, window_ms) -> bool:
    times = sorted(times)
    return any(times[i + count - 1] - times[i] <= window_ms for i in range(len(times) - count + 1))


def test_a_burst_across_a_minute_boundary_is_one_alert_that_grows():
    facts = [fact(0, 240 * SECOND), fact(1, 330 * SECOND), fact(2, 420 * SECOND)]  # 00:04, 00:05:30, 00:07
    state, (found,) = run(facts)
    assert (found.start_ms, found.end_ms, found.count) == (240 * SECOND, 420 * SECOND, 3)
    state, (grown,) = run([fact(3, 480 * SECOND)], state=state)
    assert grown.start_ms == found.start_ms and grown.count == 4  # the same alert, one more event


def test_a_late_event_counts_in_the_window_where_it_occurred():
    state, found = run([fact(0, 0), fact(1, 240 * SECOND), fact(2, 7200 * SECOND)])
    assert found == []
    state, (late,) = run([fact(3, 120 * SECOND)], state=state)  # arrives last, occurred second
    assert (late.start_ms, late.end_ms, late.count) == (0, 240 * SECOND, 3)
    assert [entry[1] for entry in late.evidence] == ["e0", "e3", "e1"]


def test_an_event_later_than_the_allowed_lateness_is_dropped():
    state, _ = run([fact(0, 10_000 * SECOND)], lateness_ms=600 * SECOND)
    state, found = run([fact(1, 0), fact(2, 1), fact(3, 2)], state=state, lateness_ms=600 * SECOND)
    assert found == [] and [entry[1] for entry in state["events"]] == ["e0"]


def test_a_resolved_alert_takes_no_new_activity_but_a_replay_of_old_events_joins_it():
    state, (first,) = run([fact(0, 0), fact(1, SECOND), fact(2, 2 * SECOND)])
    closed = {first.start_ms: 60 * SECOND}  # resolved a minute in
    state, found = run([fact(3, 100 * SECOND)], state=state, closed=closed)
    assert found == []  # one new event: not three after the resolution
    state, (second,) = run([fact(4, 110 * SECOND), fact(5, 120 * SECOND)], state=state, closed=closed)
    assert second.start_ms == 100 * SECOND and second.count == 3
    _, (replayed,) = run([fact(9, 3 * SECOND)], state=state, closed=closed)  # occurred before the resolution
    assert replayed.start_ms == first.start_ms


def test_fixed_windows_group_matches_of_a_key_from_the_first():
    state, found = run([fact(0, 0), fact(1, 30 * SECOND), fact(2, 61 * SECOND)], mode="fixed", count=1,
                       window_ms=60 * SECOND)
    assert [(f.start_ms, f.count) for f in found] == [(0, 2), (61 * SECOND, 1)]


def test_state_stays_bounded():
    facts = [fact(n, n * SECOND) for n in range(500)]
    state, _ = advance({}, facts, mode="sliding", count=3, window_ms=10 * SECOND, lateness_ms=20 * SECOND, cap=50)
    assert len(state["events"]) <= 31 and len(state["episodes"]) <= 20


times = st.lists(st.integers(0, 3600), min_size=1, max_size=25, unique=True)


@settings(max_examples=300, deadline=None)
@given(times=times, count=st.integers(2, 5), window=st.integers(1, 600), seed=st.integers(0, 2**32))
def test_an_alert_exactly_when_count_events_fall_within_the_window_whatever_the_order(times, count, window, seed):
    facts = [fact(n, t * SECOND) for n, t in enumerate(times)]
    random.Random(seed).shuffle(facts)
    state, findings = {}, []
    for piece in (facts[: len(facts) // 2], facts[len(facts) // 2:]):  # two deliveries
        state, found = run(piece, count=count, window_ms=window * SECOND, state=state)
        findings += found
    assert bool(findings) == some_window(times, count, window)
    episodes = state["episodes"]
    assert sum(e[2] for e in episodes) <= len(times)  # each event counted once at most
    assert all(f.count >= count for f in findings)

    again, redelivered = run(facts, count=count, window_ms=window * SECOND, state=state)
    assert redelivered == [] and again == state  # redelivery changes nothing


@settings(max_examples=200, deadline=None)
@given(times=times, seed=st.integers(0, 2**32))
def test_one_batch_or_one_event_at_a_time_end_in_the_same_state(times, seed):
    facts = [fact(n, t * SECOND) for n, t in enumerate(times)]
    random.Random(seed).shuffle(facts)
    whole, _ = run(facts)
    state = {}
    for one in facts:
        state, _ = run([one], state=state)
    assert state == whole


def test_a_busy_key_counts_a_redelivered_batch_once_even_past_its_cap():
    facts = [fact(n, n * 100) for n in range(60)]  # 60 in six seconds
    state, (found,) = advance({}, facts, mode="sliding", count=10, window_ms=60 * SECOND, lateness_ms=10**9, cap=50)
    assert found.count == 60 and len(state["events"]) == 50
    again, redelivered = advance(state, facts, mode="sliding", count=10, window_ms=60 * SECOND, lateness_ms=10**9,
                                 cap=50)
    assert redelivered == [] and again == state


def test_a_match_that_arrives_too_late_for_the_state_is_an_alert_of_its_own():
    week = 7 * 86_400 * SECOND
    state, _ = run([fact(0, week)], mode="fixed", count=1, window_ms=3600 * SECOND, lateness_ms=86_400 * SECOND)
    state, (late,) = run([fact(1, 0)], state=state, mode="fixed", count=1, window_ms=3600 * SECOND,
                         lateness_ms=86_400 * SECOND)
    assert (late.start_ms, late.count, [e[1] for e in late.evidence]) == (0, 1, ["e1"])
    assert [e[1] for e in state["events"]] == ["e0"]  # the state is not widened for it


def test_a_late_event_joining_a_resolved_alert_does_not_pull_in_what_came_after():
    state, (first,) = run([fact(0, 0), fact(1, 30 * SECOND), fact(2, 60 * SECOND)], window_ms=60 * SECOND)
    closed = {first.start_ms: 100 * SECOND}
    state, (second,) = run([fact(3, 110 * SECOND), fact(4, 120 * SECOND), fact(5, 130 * SECOND)], state=state,
                           window_ms=60 * SECOND, closed=closed)
    state, found = run([fact(6, 95 * SECOND)], state=state, window_ms=60 * SECOND, closed=closed)
    joined = {f.start_ms: f for f in found}
    assert first.start_ms in joined and joined[first.start_ms].end_ms == 95 * SECOND
    assert all(e[0] <= 100 * SECOND for e in joined[first.start_ms].evidence)
    assert [e for e in state["episodes"] if e[0] == first.start_ms][0][1] == 95 * SECOND
