"""What several report types share: an event as a row, and paging through a search."""

from typing import Iterator


from audit_events.search import SearchQuery, get_search_index
from audit_events.store import StoredEvent, get_event_store

__all__ = ["EVENT_COLUMNS", "event_row", "searched_events", "visible"]

EVENT_COLUMNS = ["occurred_at", "recorded_at", "tenant", "aggregate_type", "aggregate_id", "sequence",
                 "event_type", "actor_id", "actor_type", "classification", "event_id", "payload"]


def visible(reader, event: StoredEvent) -> dict:
    """The record as the reader may see it (not to be changed: it may be the stored one)."""
    return reader.visible_record(event)


def event_row(record: dict) -> dict:
    actor = record.get("actor") or {}
    return {
        "occurred_at": record["occurred_at"], "recorded_at": record["recorded_at"], "tenant": record["tenant"],
        "aggregate_type": record["aggregate_type"], "aggregate_id": record["aggregate_id"],
        "sequence": record["sequence"], "event_type": record["event_type"], "actor_id": actor.get("id"),
        "actor_type": actor.get("type"), "classification": record["classification"],
        "event_id": record["event_id"], "payload": record.get("payload") or {},
    }


def searched_events(query: SearchQuery, reader, span=None) -> Iterator[StoredEvent]:
    """Every event the search finds for the reader (within ``span`` of the log's
    positions), oldest first, in big batches.

    The index's query already holds the reader's access filter; each event is
    judged again only for a reader holding break-glass, so emergency reads are flagged.
    """
    store, judge = get_event_store(), getattr(reader, "holds_break_glass", True)
    for matches in get_search_index().iter_matches(query, reader=reader, span=span):
        for event in store.get_many([i for _, i in matches], positions=[p for p, _ in matches]):
            if not judge or reader.may_read("search", event):
                yield event


def first_page_total(query: SearchQuery, reader) -> int | None:
    result = get_search_index().search(query.model_copy(update={"limit": 1, "cursor": None}), reader=reader)
    return result.total if result.total_is_exact else None
