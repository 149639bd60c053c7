"""What several report types share: an event as a row, and paging through a search."""

from typing import Iterator

import orjson

from audit_events.search import SearchQuery, get_search_index
from audit_events.store import StoredEvent, get_event_store

__all__ = ["EVENT_COLUMNS", "event_row", "searched_events", "visible"]

EVENT_COLUMNS = ["occurred_at", "recorded_at", "tenant", "aggregate_type", "aggregate_id", "sequence",
                 "event_type", "actor_id", "actor_type", "classification", "event_id", "payload"]


def visible(reader, event: StoredEvent) -> dict:
    """The record as the reader may see it."""
    return orjson.loads(reader.render(event))


def event_row(record: dict) -> dict:
    actor = record.get("actor") or {}
    return {
        "occurred_at": record["occurred_at"], "recorded_at": record["recorded_at"], "tenant": record["tenant"],
        "aggregate_type": record["aggregate_type"], "aggregate_id": record["aggregate_id"],
        "sequence": record["sequence"], "event_type": record["event_type"], "actor_id": actor.get("id"),
        "actor_type": actor.get("type"), "classification": record["classification"],
        "event_id": record["event_id"], "payload": record.get("payload") or {},
    }


def searched_events(query: SearchQuery, reader) -> Iterator[StoredEvent]:
    """Every event the search finds for the reader, oldest first, page by page."""
    index, store = get_search_index(), get_event_store()
    query = query.model_copy(update={"sort": "oldest", "limit": 200, "cursor": None})
    while True:
        result = index.search(query, reader=reader)
        events = store.get_many(result.event_ids)
        yield from (e for e in events if reader.may_read("search", e))
        if not result.next_cursor:
            return
        query = query.model_copy(update={"cursor": result.next_cursor})


def first_page_total(query: SearchQuery, reader) -> int | None:
    result = get_search_index().search(query.model_copy(update={"limit": 1, "cursor": None}), reader=reader)
    return result.total if result.total_is_exact else None
