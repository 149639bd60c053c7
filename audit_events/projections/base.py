"""The projection interface."""

from abc import ABC, abstractmethod
from typing import Sequence

from ..store import StoredEvent

__all__ = ["Projection"]


class Projection(ABC):
    """Derives data from events. ``handle`` must be idempotent: the same event
    handled twice (a retry, a redelivered stream record) changes nothing twice.
    """

    #: unique, stable: checkpoints are stored under it
    name: str
    #: on the stream, applied once to a whole batch rather than per aggregate (its keys span
    #: aggregates, as the alert rules' do)
    batch_wide: bool = False

    @abstractmethod
    def handle(self, events: Sequence[StoredEvent]) -> None:
        """Apply a batch of events, in change-feed order."""

    def reset(self) -> None:
        """Drop everything derived (``projector.rebuild`` also rewinds the checkpoint)."""
