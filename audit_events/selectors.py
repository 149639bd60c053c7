"""Reads of stored events on behalf of a ``Reader`` (publisher or user)."""

from .readers import Reader
from .store import StoredEvent, get_event_store

__all__ = ["aggregate_events_for", "event_for"]

# How many events one page may look through to fill itself with visible ones.
_SCAN_FACTOR = 10


def event_for(*, reader: Reader, event_id: str) -> StoredEvent | None:
    """The event if the reader may view it; ``None`` otherwise (answered as 404)."""
    event = get_event_store().get(event_id)
    if event is None or not reader.may_read("view_event", event):
        # Logged alike whether or not the event exists: probing is worth seeing.
        reader.audit("ReadRefused", target={"event_id": str(event_id)}, details={"action": "view_event"})
        return None
    reader.audit("EventViewed", target=_target(event) | {"event_id": event.record["event_id"]})
    return event


def aggregate_events_for(
    *, reader: Reader, tenant: str, aggregate_type: str, aggregate_id: str, after: int, limit: int
) -> tuple[list[StoredEvent], int | None] | None:
    """A page of the aggregate's events the reader may see, and where the next page starts.

    ``None`` when the reader can see none of the aggregate's events (or it does
    not exist): the two must look the same, whatever ``after`` says.
    """
    store = get_event_store()
    visible: list[StoredEvent] = []
    cursor, scanned, at_end = after, 0, False
    while len(visible) < limit and scanned < limit * _SCAN_FACTOR:
        chunk = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=cursor, limit=limit)
        for event in chunk:
            scanned += 1
            cursor = event.sequence
            if reader.may_read("view_timeline", event):
                visible.append(event)
                if len(visible) == limit:
                    break
        if len(chunk) < limit and (not chunk or cursor == chunk[-1].sequence):
            at_end = True
            break
    if not visible and not _any_visible(reader, store, tenant, aggregate_type, aggregate_id):
        reader.audit(
            "ReadRefused",
            target={"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id},
            details={"action": "view_timeline"},
        )
        return None
    reader.audit(
        "TimelineViewed",
        target={"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id},
        details={"after": after, "returned": len(visible)},
    )
    return visible, None if at_end else cursor


def _any_visible(reader: Reader, store, tenant, aggregate_type, aggregate_id) -> bool:
    cursor = 0
    while True:
        chunk = store.read_aggregate(tenant, aggregate_type, aggregate_id, after=cursor, limit=1000)
        if not chunk:
            return False
        if any(reader.may_read("view_timeline", event) for event in chunk):
            return True
        cursor = chunk[-1].sequence


def _target(event: StoredEvent) -> dict:
    return {
        "tenant": event.tenant,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
    }
