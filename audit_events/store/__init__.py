"""The event-store port and the one place where its adapter is chosen."""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import (
    AppendConflictError,
    AppendResult,
    EventConflictError,
    EventStore,
    ExpectedSequenceError,
    StoredEvent,
)

__all__ = [
    "ADAPTERS",
    "AppendConflictError",
    "AppendResult",
    "EventConflictError",
    "EventStore",
    "ExpectedSequenceError",
    "StoredEvent",
    "get_event_store",
]

# AUDIT_STORE value -> adapter class.
ADAPTERS = {
    "sql": "audit_events.store.sql.SQLEventStore",
}


@lru_cache(maxsize=None)
def get_event_store() -> EventStore:
    """The store named by ``settings.AUDIT_STORE`` (built once per process)."""
    name = settings.AUDIT_STORE
    if name not in ADAPTERS:
        raise ImproperlyConfigured(
            f"AUDIT_STORE={name!r} is not a known event store; use one of: "
            + ", ".join(sorted(ADAPTERS))
        )
    return import_string(ADAPTERS[name])()
