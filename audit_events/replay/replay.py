"""Point-in-time state and diffs, by sequence or by business or recorded time."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.db.models import Q

from ..masking import mask_record
from ..readers import Reader
from ..schema import parse_timestamp
from ..schemas import upcast_record
from ..store import EventStore, StoredEvent
from ..verification import ChainWalker
from .reducers import ReplayedState, reduce_event

__all__ = ["DiffResult", "StateResult", "diff_states", "state_at"]

_PAGE = 1000


@dataclass
class StateResult:
    state: dict
    deleted: bool
    sequence: int
    as_of: str | None
    last_event_id: str | None
    verified: bool
    #: the first sequence whose link this replay rechecked (after a snapshot: the tail)
    verified_from: int = 1


@dataclass
class DiffResult:
    added: dict = field(default_factory=dict)
    removed: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)


def _all_events(store: EventStore, tenant, aggregate_type, aggregate_id, upto=None) -> list[StoredEvent]:
    events, after = [], 0
    before = upto + 1 if upto is not None else None
    while True:
        page = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=after, limit=_PAGE, before=before)
        events.extend(page)
        if len(page) < _PAGE:
            return events
        after = page[-1].sequence


def _chain_holds(events: list[StoredEvent]) -> bool:
    if not events:
        return True
    walker = ChainWalker((events[0].tenant, events[0].aggregate_type, events[0].aggregate_id))
    for event in events:
        walker.check(event)
    return walker.ok


def _visible_events(store, reader: Reader, tenant, aggregate_type, aggregate_id, action="replay_state", upto=None):
    """The aggregate's events (up to sequence ``upto``), and those the reader may fold."""
    events = _all_events(store, tenant, aggregate_type, aggregate_id, upto)
    visible = [e for e in events if reader.may_read(action, e)]
    return events, visible


def state_at(store: EventStore, reader: Reader, tenant: str, aggregate_type: str, aggregate_id: str,
             **when) -> StateResult | None:
    """The state the reader may see after ``sequence`` or as of ``at``; ``None`` if out of scope.

    Folds stored (sealed) or masked payloads; personal data the reader may see is opened in
    the result (shown erased where its subject's key was destroyed)."""
    from ..privacy.sealing import open_sealed

    result = _state_at(store, reader, tenant, aggregate_type, aggregate_id, **when)
    if result is not None:
        result.state = open_sealed(result.state, reader.keys)
    return result


def _state_at(
    store: EventStore,
    reader: Reader,
    tenant: str,
    aggregate_type: str,
    aggregate_id: str,
    *,
    sequence: int | None = None,
    at: datetime | None = None,
    time: str = "occurred",
) -> StateResult | None:
    """The state the reader may see after ``sequence`` or as of ``at``; ``None`` if out of scope.

    Business time (``occurred``) folds the events that had occurred by ``at``
    in the order they occurred, so a late-arriving event lands where it
    belongs; recorded time folds what the log held at ``at``. Personal data is
    masked before folding for readers who may not see it.
    """
    if at is not None and time == "recorded":
        # The log held a prefix of the chain at any moment: find it, then replay by sequence.
        # Appends to an aggregate are serialised: recorded times rise with the sequence.
        upto = _last_by(store, (tenant, aggregate_type, aggregate_id), "recorded_at", at)
        result = _state_at(store, reader, tenant, aggregate_type, aggregate_id, sequence=upto)
        if result is not None and result.last_event_id:
            last = store.get(result.last_event_id)
            result.as_of = last.record.get("recorded_at") if last else result.as_of
        return result
    if at is None:
        fast = _from_snapshot(store, reader, tenant, aggregate_type, aggregate_id, sequence)
        if fast is not None:
            return fast
    upto = sequence
    if at is not None and time == "occurred":
        fast, upto = _occurred_by_snapshot(store, reader, (tenant, aggregate_type, aggregate_id), at)
        if fast is not None:
            return fast
    # A state after a sequence needs nothing later; a moment may need every event.
    events, visible = _visible_events(store, reader, tenant, aggregate_type, aggregate_id, upto=upto)
    if not visible and (upto is None or not _visible_events(store, reader, tenant, aggregate_type,
                                                            aggregate_id)[1]):
        return None
    verified = _chain_holds(events)
    records = [(e, reader_view(reader, e)) for e in visible]
    if sequence is not None:
        chosen = [(e, r) for e, r in records if e.sequence <= sequence]
    elif at is not None:
        key = "occurred_at" if time == "occurred" else "recorded_at"
        chosen = [(e, r) for e, r in records if parse_timestamp(r[key]) <= at]
        if time == "occurred":
            chosen.sort(key=lambda pair: (pair[1]["occurred_at"], pair[0].sequence))
    else:
        chosen = records
    current = ReplayedState()
    for _, record in chosen:
        current = reduce_event(current, record)
    last_event, last_record = chosen[-1] if chosen else (None, None)
    return StateResult(
        state=current.state,
        deleted=current.deleted,
        sequence=max((e.sequence for e, _ in chosen), default=0),
        as_of=(last_record or {}).get("occurred_at" if time == "occurred" else "recorded_at"),
        last_event_id=(last_record or {}).get("event_id"),
        verified=verified,
    )


def _occurred_by_snapshot(store, reader: Reader, key, at: datetime) -> tuple[StateResult | None, int | None]:
    """Business time from a snapshot, when the events that had occurred by ``at`` are
    exactly the chain's first ones and occurred in the order they were recorded (the
    usual case): their fold by occurrence is then the fold by sequence.

    Also returns the last sequence a replay by occurrence must read (None: all of them).
    """
    upto = _last_by(store, key, "occurred_at", at)  # right if occurrence rises with the sequence
    # "< at + 1 µs", not "<= at": SQLite compares the store's text, which always has six
    # fractional digits, with Django's, which drops them at a whole second.
    late = Q(occurred_at__lt=at + timedelta(microseconds=1))
    try:  # nothing later had occurred by then (a late arrival would belong in the fold)
        if store.read_aggregate(*key, after=upto, limit=1, where=late):
            return None, None
    except TypeError:  # a store that cannot take the filter
        return None, None
    if upto == 0:
        return None, 0
    # The snapshot vouches for its events' order; the tail's is checked as it is folded.
    return _from_snapshot(store, reader, *key, upto, in_occurred_order=True), upto


def _from_snapshot(store, reader, tenant, aggregate_type, aggregate_id, sequence,
                   in_occurred_order: bool = False) -> StateResult | None:
    """Replay from the newest usable snapshot, or ``None`` to replay from the start.

    With ``in_occurred_order`` the snapshot and the events after it must have occurred
    in sequence order (else ``None``).

    A snapshot serves only readers who may see every event it covers, with
    their personal data everywhere (its stored fold) or nowhere (its masked
    fold); see ``_masking_for``. It is ignored when it was made under another reducer
    version or its covered hash no longer matches the chain (a tampered or
    stale cache); the tail after it is verified link by link.
    """
    from ..models import AggregateSnapshot
    from ..projections.snapshots import snapshot_is_sound

    head = store.heads(tenant=tenant, aggregate=(aggregate_type, aggregate_id)).get(
        (tenant, aggregate_type, aggregate_id))
    if head is None:
        return None
    target = head[0] if sequence is None else min(sequence, head[0])
    if getattr(reader, "holds_break_glass", False):
        return None  # replay event by event, so that emergency reads are flagged
    candidates = AggregateSnapshot.objects.filter(
        tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id, sequence__lte=target,
        **({"occurred_in_order": True} if in_occurred_order else {}),
    ).order_by("-sequence")[:3]
    snapshot = next((c for c in candidates if snapshot_is_sound(c)), None)  # forged or stale: ignored
    if snapshot is None:
        return None
    try:
        masked = _masking_for(store, reader, (tenant, aggregate_type, aggregate_id), target)
    except TypeError:  # a store that cannot take the compiled filter
        return None
    if masked is None:
        return None
    anchor = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=snapshot.sequence - 1, limit=1)
    if not anchor or anchor[0].sequence != snapshot.sequence or anchor[0].hash != snapshot.last_hash:
        return None
    if masked:
        current = ReplayedState(snapshot.masked["state"], snapshot.masked["deleted"])
    else:
        current = ReplayedState(snapshot.state, snapshot.deleted)
    walker = ChainWalker((tenant, aggregate_type, aggregate_id), after_sequence=snapshot.sequence,
                         prev_hash=snapshot.last_hash)
    last, after = anchor[0], snapshot.sequence
    latest = parse_timestamp(snapshot.occurred_max) if in_occurred_order else None
    while after < target:
        page = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=after, limit=_PAGE,
                                    before=target + 1)
        if not page:
            break
        for event in page:
            walker.check(event)
            try:  # the walker parsed it already, unless the chain broke earlier
                record = walker.record if walker.ok else event.record
            except ValueError:
                continue
            if latest is not None:
                occurred = parse_timestamp(record["occurred_at"])
                if occurred < latest:
                    return None  # out of order: only a replay by occurrence is right
                latest = occurred
            reader.may_read("replay_state", event)  # notes reads that only break-glass allows
            current = reduce_event(current, upcast_record(mask_record(record) if masked else record))
            last = event
        after = page[-1].sequence
    verified = walker.ok
    record = last.record
    return StateResult(current.state, current.deleted, last.sequence, record.get("occurred_at"),
                       record.get("event_id"), verified, verified_from=snapshot.sequence + 1)


def _last_by(store, key, field: str, at: datetime) -> int:
    """The last sequence whose ``field`` is at or before ``at``, if that time rises with the
    sequence: a binary search of one-row reads."""
    head = store.heads(tenant=key[0], aggregate=key[1:]).get(key)
    low, high = 0, head[0] if head else 0
    while low < high:
        middle = (low + high + 1) // 2
        found = store.read_aggregate(*key, after=middle - 1, limit=1)
        if found and parse_timestamp(found[0].record[field]) <= at:
            low = middle
        else:
            high = middle - 1
    return low


def _masking_for(store, reader: Reader, key, target: int) -> bool | None:
    """Which fold of a snapshot serves this reader up to ``target``: the stored one
    (``False``), the masked one (``True``), or neither (``None``).

    A snapshot holds every event it covers, so the reader must see them all;
    personal data must then be visible on all of them or on none.
    Each question is one query with the compiled filter.
    """

    def any_event(where) -> bool:
        return bool(store.read_aggregate(*key, limit=1, before=target + 1, where=where))

    visible, personal = reader.filter_for("replay_state"), reader.pii_filter_for("replay_state")
    if not any_event(~(visible & personal)):  # the usual case first: one query
        return False
    if any_event(~visible):
        return None
    if not any_event(personal):
        return True
    return None


def reader_view(reader: Reader, event: StoredEvent) -> dict:
    """The record as the reader may see it (personal data masked where required)."""
    view = orjson.loads(reader.render(event))
    view.pop("hash", None)
    return upcast_record(view)  # reducers see the newest payload shape


def diff_states(old: dict, new: dict, path: str = "") -> DiffResult:
    """Field-level differences, keyed by JSON Pointer."""
    result = DiffResult()
    _diff(old, new, path, result)
    return result


def _diff(old, new, path: str, result: DiffResult) -> None:
    if isinstance(old, dict) and isinstance(new, dict) and old != {"masked": True} and new != {"masked": True}:
        for key in sorted(set(old) | set(new)):
            child = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
            if key not in new:
                result.removed[child] = old[key]
            elif key not in old:
                result.added[child] = new[key]
            else:
                _diff(old[key], new[key], child, result)
    elif old != new:
        result.changed[path or "/"] = {"old": old, "new": new}
