"""Keeps the search index fed from the change feed."""

from typing import Sequence

from ..search import get_search_index
from ..store import StoredEvent
from .base import Projection

__all__ = ["SearchProjection"]


class SearchProjection(Projection):
    """Idempotent by event: a document is keyed by the event's position and id."""

    name = "search"

    def handle(self, events: Sequence[StoredEvent]) -> None:
        get_search_index().index(events)

    def reset(self) -> None:
        get_search_index().reset()
