"""Reads of stored events on behalf of a ``Reader`` (publisher or user)."""

from typing import TYPE_CHECKING

from .readers import Reader
from .store import StoredEvent, get_event_store

if TYPE_CHECKING:
    from .search import SearchResult

__all__ = ["aggregate_events_for", "event_for", "search_events"]

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

    The access filter runs inside the store's query, so neither the page nor
    its cursor says anything about events the reader may not see. ``None``
    when the reader can see none of the aggregate (or it does not exist): the
    two look the same, whatever ``after`` says.
    """
    store = get_event_store()
    where = reader.filter_for("view_timeline")
    events = store.read_aggregate(
        tenant, aggregate_type, aggregate_id, after=after, limit=limit, where=where
    )
    target = {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}
    if not events and not store.read_aggregate(tenant, aggregate_type, aggregate_id, limit=1, where=where):
        reader.audit("ReadRefused", target=target, details={"action": "view_timeline"})
        return None
    for event in events:
        reader.may_read("view_timeline", event)  # notes reads that only break-glass allows
    reader.audit("TimelineViewed", target=target, details={"after": after, "returned": len(events)})
    return events, events[-1].sequence if len(events) == limit else None


def search_events(
    *, reader: Reader, query, audit_kind: str = "SearchPerformed"
) -> tuple[list[StoredEvent], "SearchResult"]:
    """One page of search results the reader may see, and the result's counts."""
    from .search import get_search_index

    result = get_search_index().search(query, reader=reader)
    events = get_event_store().get_many(result.event_ids)
    for event in events:
        reader.may_read("search", event)  # notes reads that only break-glass allows
    reader.audit(
        audit_kind,
        target={},
        details={"query": query.model_dump(mode="json", by_alias=True, exclude_none=True),
                 "returned": len(events), "total": result.total_text},
    )
    return events, result


def _target(event: StoredEvent) -> dict:
    return {
        "tenant": event.tenant,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
    }
