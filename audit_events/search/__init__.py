"""The search port and the one place where its adapter is chosen (``SEARCH_BACKEND``)."""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

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
    name = settings.SEARCH_BACKEND
    if name not in ADAPTERS:
        raise ImproperlyConfigured(
            f"SEARCH_BACKEND={name!r} is not a known search backend; use one of: "
            + ", ".join(sorted(ADAPTERS))
        )
    return import_string(ADAPTERS[name])()
