"""Reads of stored events on behalf of a ``Reader`` (publisher or user)."""

from typing import TYPE_CHECKING

from .alerts.rules import classification_rank
from .readers import Reader
from .store import StoredEvent, get_event_store

if TYPE_CHECKING:
    from .search import SearchResult

__all__ = [
    "aggregate_classification", "aggregate_events_for", "event_for", "last_visible_sequence", "latest_verification", "projection_lag",
    "search_events",
]

def event_for(*, reader: Reader, event_id: str) -> StoredEvent | None:
    """The event if the reader may view it; ``None`` otherwise (answered as 404)."""
    event = get_event_store().get(event_id)
    if event is None or not reader.may_read("view_event", event):
        # Logged alike whether or not the event exists: probing is worth seeing.
        reader.audit("ReadRefused", target={"event_id": str(event_id)}, details={"action": "view_event"})
        return None
    # The classification read lets alert rules judge the read (restricted records at night).
    reader.audit("EventViewed", target=_target(event) | {"event_id": event.record["event_id"],
                                                          "classification": event.record["classification"]})
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
        tenant, aggregate_type, aggregate_id, after=after, limit=limit + 1, where=where
    )
    more, events = len(events) > limit, events[:limit]
    target = {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}
    if not events and not store.read_aggregate(tenant, aggregate_type, aggregate_id, limit=1, where=where):
        reader.audit("ReadRefused", target=target, details={"action": "view_timeline"})
        return None
    for event in events:
        reader.may_read("view_timeline", event)  # notes reads that only break-glass allows
    highest = max((e.record["classification"] for e in events), key=classification_rank, default=None)
    reader.audit("TimelineViewed", target=target | ({"classification": highest} if highest else {}),
                 details={"after": after, "returned": len(events)})
    return events, events[-1].sequence if more else None


def aggregate_classification(tenant: str, aggregate_type: str, aggregate_id: str) -> str | None:
    """The classification of the aggregate's first event: what an access-audit event about
    replaying its state records, for alert rules (a record keeps its class)."""
    first = get_event_store().read_aggregate(tenant, aggregate_type, aggregate_id, limit=1)
    return first[0].record["classification"] if first else None


def last_visible_sequence(*, reader: Reader, tenant: str, aggregate_type: str, aggregate_id: str,
                          action: str = "view_timeline") -> int:
    """The aggregate's last sequence the reader may see (0 if none): what a page may say
    about its length without counting events outside the reader's scope."""
    store = get_event_store()
    key = (tenant, aggregate_type, aggregate_id)
    head = store.heads(tenant=tenant, aggregate=(aggregate_type, aggregate_id)).get(key)
    if head is None:
        return 0
    where = reader.filter_for(action)
    if not store.read_aggregate(*key, limit=1, where=~where):
        return head[0]  # nothing hidden: the head is visible
    last = 0
    while True:  # some events hidden: the last visible one, page by page
        page = store.read_aggregate(*key, after=last, limit=1000, where=where)
        if not page:
            return last
        last = page[-1].sequence
        if len(page) < 1000:
            return last


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


def latest_verification(tenant: str):
    """The newest ``verify_chain`` outcome for ``tenant`` (a ``ChainVerification``), or ``None``."""
    from .models import ChainVerification

    return ChainVerification.objects.filter(tenant=tenant).order_by("-verified_at").first()


#: events read to measure lag; a lag beyond it is shown as "more than"
LAG_LIMIT = 10_000


def projection_lag(*, reader: Reader) -> dict:
    """How many events each configured projection has yet to apply, counting only events
    the reader may search, in total and per tenant (against the search projection).

    Reads at most ``LAG_LIMIT`` events past the slowest checkpoint, so the figures are
    exact below it and "at least" above it (``capped``).
    """
    from .models import ProjectionCheckpoint
    from .projections import configured_projections

    names = [projection.name for projection in configured_projections()]
    positions = dict(ProjectionCheckpoint.objects.filter(name__in=names).values_list("name", "position"))
    checkpoints = {name: positions.get(name, 0) for name in names}
    lowest = min(checkpoints.values(), default=0)
    pending = get_event_store().read_all(after_position=lowest, limit=LAG_LIMIT + 1)
    capped = len(pending) > LAG_LIMIT
    visible = [e for e in pending[:LAG_LIMIT] if reader.may_read("search", e)]
    search_at = checkpoints.get("search", lowest)
    per_tenant: dict[str, int] = {}
    for event in visible:
        if event.position > search_at:
            per_tenant[event.tenant] = per_tenant.get(event.tenant, 0) + 1
    projections = [
        {"name": name, "behind": sum(1 for e in visible if e.position > position),
         "capped": capped and position == lowest,
         "oldest_pending": next((e.record.get("recorded_at") for e in visible if e.position > position), None)}
        for name, position in checkpoints.items()
    ]
    return {"projections": projections, "tenants": per_tenant, "capped": capped}
