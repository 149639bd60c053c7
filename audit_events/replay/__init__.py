"""Replay: an aggregate's state at any sequence or moment, and diffs between states."""

from .reducers import ReplayedState, reduce_event, register_reducer
from .replay import DiffResult, StateResult, diff_states, state_at

__all__ = [
    "DiffResult",
    "ReplayedState",
    "StateResult",
    "diff_states",
    "reduce_event",
    "register_reducer",
    "state_at",
]
