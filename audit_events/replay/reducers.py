"""Reducers: pure functions folding one event into an aggregate's state.

The default applies the payload as a JSON Merge Patch (RFC 7396), so
publishers need no code. By convention an event type ending in ``Created``
starts the state afresh and one ending in ``Deleted`` marks it deleted.
Reducers registered for an (aggregate_type, event_type) take precedence.
"""

from dataclasses import dataclass, field
from typing import Callable

from ..state import merge_patch

__all__ = ["REDUCER_VERSION", "ReplayedState", "Reducer", "reduce_event", "register_reducer"]

#: bump when the default reducer changes meaning: older snapshots are then ignored
REDUCER_VERSION = 1


@dataclass(frozen=True)
class ReplayedState:
    state: dict = field(default_factory=dict)
    deleted: bool = False


Reducer = Callable[[ReplayedState, dict], ReplayedState]
_REGISTRY: dict[tuple[str, str], Reducer] = {}


def register_reducer(aggregate_type: str, event_type: str, reducer: Reducer) -> None:
    """Use ``reducer`` for these events (``"*"`` as the aggregate type matches any)."""
    _REGISTRY[(aggregate_type, event_type)] = reducer


def default_reducer(current: ReplayedState, record: dict) -> ReplayedState:
    event_type, payload = record["event_type"], record.get("payload") or {}
    if event_type.endswith("Created"):
        return ReplayedState(merge_patch({}, payload), deleted=False)
    if event_type.endswith("Deleted"):
        return ReplayedState(current.state, deleted=True)
    return ReplayedState(merge_patch(current.state, payload), deleted=current.deleted)


def reduce_event(current: ReplayedState, record: dict) -> ReplayedState:
    """Fold one record (as stored, or as the reader may see it) into ``current``."""
    reducer = (
        _REGISTRY.get((record["aggregate_type"], record["event_type"]))
        or _REGISTRY.get(("*", record["event_type"]))
        or default_reducer
    )
    return reducer(current, record)
