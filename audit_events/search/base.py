"""The search-index port: what every adapter (SQL, OpenSearch) provides."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from ..readers import Reader
from ..store import StoredEvent
from .query import SearchQuery

__all__ = ["SearchIndex", "SearchResult", "TOTAL_LIMIT", "part_bounds"]

TOTAL_LIMIT = 10_000  # OpenSearch counts exactly up to here, then reports "10,000+"


@dataclass
class SearchResult:
    """One page of matches (event ids in order) with counts that never include
    an event the reader may not see."""

    event_ids: list[str]
    total: int | None  # None on later pages: the first page counts
    total_is_exact: bool
    next_cursor: str | None
    facets: dict[str, list[dict]] = field(default_factory=dict)
    histogram: dict = field(default_factory=dict)
    #: facets and histogram count only the newest this-many matches (None: all of them)
    facets_basis: int | None = None
    #: the total is exact up to here, then reported as "N+"
    count_limit: int = TOTAL_LIMIT

    @property
    def total_text(self) -> str | None:
        if self.total is None:
            return None
        return f"{self.total:,}" if self.total_is_exact else f"{self.count_limit:,}+"


class SearchIndex(ABC):
    """Events indexed for search; every query runs under a reader's access filter."""

    @abstractmethod
    def index(self, events: Sequence[StoredEvent]) -> None:
        """Add or replace the documents of ``events`` (idempotent by event)."""

    @abstractmethod
    def reset(self) -> None:
        """Remove every document (a rebuild follows)."""

    def rebuild(self, batches: Iterable[Sequence[StoredEvent]]) -> None:
        """Replace the whole index with ``batches``; searches see the old index until done."""
        self.reset()
        for batch in batches:
            self.index(batch)

    @abstractmethod
    def search(self, query: SearchQuery, *, reader: Reader) -> SearchResult:
        """The page of ``query`` that ``reader`` may see, with totals, facets and histogram."""

    @abstractmethod
    def iter_matches(self, query: SearchQuery, *, reader: Reader, batch: int = 2000,
                     span: tuple[int, int] | None = None) -> Iterator[list[tuple[int, str]]]:
        """Every match as ``(position, event_id)``, oldest first, in batches of at most
        ``batch``: what an export reads (no totals, facets or page cap).

        ``span=(after, upto)``: only matches with after < position <= upto, so that
        several workers can export one result together, each a contiguous part.
        """

    @abstractmethod
    def last_position(self) -> int:
        """The highest position indexed (0 when empty): where the parts of an export end."""


def part_bounds(last: int, part: tuple[int, int]) -> tuple[int, int]:
    """The span ``(after, upto]`` of part ``(k, n)`` of ``(0, last]``."""
    k, n = part
    if not 0 <= k < n:
        raise ValueError(f"part {part!r}: need 0 <= k < n")
    return last * k // n, last * (k + 1) // n
