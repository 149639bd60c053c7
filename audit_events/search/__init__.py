"""The search port and the one place where its adapter is chosen (``SEARCH_BACKEND``)."""

from functools import lru_cache

from ..adapters import adapter_from_setting

from .base import SearchIndex, SearchResult
from .query import SearchQuery, SearchQueryError, parse_search_params

__all__ = [
    "ADAPTERS",
    "SearchIndex",
    "SearchQuery",
    "SearchQueryError",
    "SearchResult",
    "get_search_index",
    "parse_search_params",
]

ADAPTERS = {
    "sql": "audit_events.search.sql.SQLSearchIndex",
    "opensearch": "audit_events.search.opensearch.OpenSearchIndex",
}


@lru_cache(maxsize=None)
def get_search_index() -> SearchIndex:
    """The index named by ``settings.SEARCH_BACKEND`` (built once per process)."""
    return adapter_from_setting("SEARCH_BACKEND", ADAPTERS)
