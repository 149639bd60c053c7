"""Reads: what a publisher may see of the stored events."""

from .models import PublisherKey
from .schema import RESERVED_TENANT_PREFIX
from .store import StoredEvent, get_event_store


def _readable(key: PublisherKey, tenant: str) -> bool:
    # Portal tenants stay out of reach even if a key were edited to hold one.
    return tenant in key.tenants and not tenant.startswith(RESERVED_TENANT_PREFIX)

__all__ = ["aggregate_events_for_publisher", "event_for_publisher"]


def event_for_publisher(*, key: PublisherKey, event_id: str) -> StoredEvent | None:
    """The event if it belongs to one of the key's tenants (else ``None``: 404)."""
    event = get_event_store().get(event_id)
    if event is None or not _readable(key, event.tenant):
        return None
    return event


def aggregate_events_for_publisher(
    *, key: PublisherKey, tenant: str, aggregate_type: str, aggregate_id: str, after: int, limit: int
) -> list[StoredEvent] | None:
    """A page of an aggregate's events, or ``None`` when it is unknown or out of scope."""
    if not _readable(key, tenant):
        return None
    store = get_event_store()
    events = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=after, limit=limit)
    if not events and not store.heads(tenant=tenant, aggregate=(aggregate_type, aggregate_id)):
        return None
    return events
