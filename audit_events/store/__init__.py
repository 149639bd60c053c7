"""The event-store port and the one place where its adapter is chosen."""

from functools import lru_cache

from ..adapters import adapter_from_setting

from .base import (
    AppendConflictError,
    AppendResult,
    EventConflictError,
    EventStore,
    EventTooLargeError,
    ExpectedSequenceError,
    PartlyStoredError,
    RestoreError,
    StoreBusyError,
    StoredEvent,
)

__all__ = [
    "ADAPTERS",
    "AppendConflictError",
    "AppendResult",
    "EventConflictError",
    "EventStore",
    "EventTooLargeError",
    "ExpectedSequenceError",
    "PartlyStoredError",
    "RestoreError",
    "StoreBusyError",
    "StoredEvent",
    "get_event_store",
]

# AUDIT_STORE value -> adapter class.
ADAPTERS = {
    "sql": "audit_events.store.sql.SQLEventStore",
    "dynamodb": "audit_events.store.dynamodb.DynamoDBEventStore",
}


@lru_cache(maxsize=None)
def get_event_store() -> EventStore:
    """The store named by ``settings.AUDIT_STORE`` (built once per process)."""
    return adapter_from_setting("AUDIT_STORE", ADAPTERS)
