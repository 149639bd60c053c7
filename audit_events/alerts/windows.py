"""Windows of event time per key: the pure part of rule evaluation (no I/O, no clock).

``advance`` folds a key's new events into its state and says which alerts they make. The
state holds the key's recent events, sorted by event time (so a late event lands where it
occurred), and its *episodes*: the alerts found so far, each a run of windows that overlap.

- ``sliding`` (threshold rules): an alert once ``count`` events fall within ``window_ms`` of
  each other, anywhere in event time; later windows that overlap it grow the same alert.
- ``fixed`` (match rules): every event is an alert; those within ``window_ms`` after an
  alert's first event join it.

Redelivery changes nothing: an event already in the state is skipped. The state is bounded:
events older than the newest by more than ``window_ms + lateness_ms`` are dropped, and so is
an event that arrives that late; at most ``cap`` events are kept, and once a busy key drops its
oldest, an event at or before the dropped ones' time is too late as well (so a redelivered,
dropped event is never counted twice). A match (``fixed``) that arrives too late is still an
alert, of its own. An alert that people have resolved (``closed``: its start -> resolved time)
takes no event that occurred after the resolution: new activity makes a new alert.
"""

import bisect
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fact", "Finding", "advance"]

# An entry of the state: [occurred ms, event id, tenant, aggregate type, aggregate id,
# sequence, event type, start of the episode that counted it or None]
_T, _ID, _EPISODE = 0, 1, 7
# An episode: [start ms (the alert's key, fixed), end ms, events counted, earliest event ms]
_START, _END, _COUNT, _FIRST = 0, 1, 2, 3
MAX_EPISODES = 20


@dataclass(frozen=True)
class Fact:
    """What a rule's window keeps of one event."""

    occurred_ms: int
    event_id: str
    tenant: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event_type: str

    def entry(self) -> list:
        return [self.occurred_ms, self.event_id, self.tenant, self.aggregate_type, self.aggregate_id,
                self.sequence, self.event_type, None]


@dataclass
class Finding:
    """An alert to raise (or grow): its episode's start and end, its events so far."""

    start_ms: int
    end_ms: int
    count: int
    evidence: list[list] = field(default_factory=list)


def advance(state: dict, facts: list[Fact], *, mode: Literal["sliding", "fixed"], count: int, window_ms: int,
            lateness_ms: int, cap: int, closed: dict[int, int] | None = None) -> tuple[dict, list[Finding]]:
    """The key's state after ``facts`` (in arrival order), and the alerts they found."""
    events = [list(e) for e in state.get("events", [])]
    episodes = [list(e) for e in state.get("episodes", [])]
    newest, floor = state.get("newest"), state.get("floor")
    closed = closed or {}
    seen = {e[_ID] for e in events}
    found: dict[int, Finding] = {}
    for fact in facts:
        if fact.event_id in seen:
            continue  # redelivered
        entry = fact.entry()
        if _too_late(fact.occurred_ms, newest, floor, window_ms + lateness_ms):
            if mode == "fixed":  # a match is an alert however late: its own, at its own time
                _found(found, [fact.occurred_ms, fact.occurred_ms, 1], [entry])
            continue  # a window it could join is gone (or redelivered after it was dropped)
        seen.add(fact.event_id)
        bisect.insort(events, entry, key=lambda e: (e[_T], e[_ID]))
        newest = fact.occurred_ms if newest is None else max(newest, fact.occurred_ms)

        def is_open(episode, at=fact.occurred_ms):
            resolved = closed.get(episode[_START])
            return resolved is None or at <= resolved

        shut = {e[_START] for e in episodes if not is_open(e)}
        usable = [e for e in events if e[_EPISODE] not in shut]
        members = (_sliding(usable, entry, count, window_ms) if mode == "sliding" else [entry])
        if not members:
            continue
        start, end = members[0][_T], members[-1][_T]
        episode = next((e for e in episodes if is_open(e) and _joins(e, start, end, mode, window_ms)), None)
        if episode is None:
            episode = [start, end, 0, start]
            episodes.append(episode)
        resolved = closed.get(episode[_START])
        if resolved is not None:  # a resolved alert takes in nothing that occurred after it was resolved
            members = [m for m in members if m[_T] <= resolved]
            start, end = members[0][_T], members[-1][_T]
        episode[_END] = max(episode[_END], end)
        episode[_FIRST] = min(episode[_FIRST], start)  # a late window may reach before the start
        for member in members:
            if member[_EPISODE] is None:
                member[_EPISODE] = episode[_START]
                episode[_COUNT] += 1
        _found(found, episode, members)
    if newest is not None:
        horizon = newest - window_ms - lateness_ms
        events = [e for e in events if e[_T] >= horizon]
        if len(events) > cap:  # a busy key keeps its newest: anything at or before the dropped is too late
            floor = max(floor or events[-cap - 1][_T], events[-cap - 1][_T])
            events = events[-cap:]
        episodes = [e for e in episodes if e[_END] >= horizon][-MAX_EPISODES:]
    for finding in found.values():
        finding.evidence.sort(key=lambda e: (e[_T], e[_ID]))
    return {"events": events, "episodes": episodes, "newest": newest, "floor": floor}, list(found.values())


def _too_late(at: int, newest: int | None, floor: int | None, reach_ms: int) -> bool:
    return (newest is not None and at < newest - reach_ms) or (floor is not None and at <= floor)


def _found(found: dict[int, "Finding"], episode: list, members: list[list]) -> None:
    """Note the episode's alert as found (once per batch, with every member seen)."""
    finding = found.setdefault(episode[_START], Finding(episode[_START], episode[_END], episode[_COUNT]))
    finding.end_ms, finding.count = episode[_END], episode[_COUNT]
    known = {e[_ID] for e in finding.evidence}
    finding.evidence += [list(m) for m in members if m[_ID] not in known]


def _sliding(events: list[list], entry: list, count: int, window_ms: int) -> list[list]:
    """The earliest window of ``count`` events within ``window_ms`` that holds ``entry``, with
    every event of that window's span; ``[]`` if there is none."""
    at = next(i for i, e in enumerate(events) if e is entry)
    for first in range(max(0, at - count + 1), at + 1):
        last = first + count - 1
        if last >= len(events):
            break
        if events[last][_T] - events[first][_T] <= window_ms:
            start = events[first][_T]
            return [e for e in events[first:] if e[_T] <= start + window_ms]
    return []


def _joins(episode: list, start: int, end: int, mode: str, window_ms: int) -> bool:
    if mode == "fixed":
        return episode[_START] <= start <= episode[_START] + window_ms
    return episode[_FIRST] <= end and start <= episode[_END]
