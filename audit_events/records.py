"""The stored record: the exact JSON object that is hashed and read back.

A record holds every input field of the event plus the server's
``sequence``, ``recorded_at`` and ``prev_hash``. Optional fields that were
not given are left out rather than written as ``null``, so that fields added
to the format later never change the hash of an older record.
"""

from .schema import EventIn, format_timestamp

__all__ = ["SERVER_FIELDS", "content_of", "event_content", "build_record", "stream_key"]

# Assigned by the store, so not part of what a publisher's retry must repeat.
SERVER_FIELDS = ("sequence", "recorded_at", "prev_hash", "hash")


def event_content(event: EventIn, event_id: str) -> dict:
    """The publisher-supplied part of a record, normalised."""
    actor = {"id": event.actor.id, "type": event.actor.type}
    if event.actor.ip is not None:
        actor["ip"] = event.actor.ip
    if event.actor.user_agent is not None:
        actor["user_agent"] = event.actor.user_agent
    content = {
        "event_id": event_id,
        "tenant": event.tenant,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "occurred_at": format_timestamp(event.occurred_at),
        "actor": actor,
        "classification": event.classification.value,
        "pii": list(event.pii),
        "payload": event.payload,
    }
    if event.trace_id is not None:
        content["trace_id"] = event.trace_id
    if event.data_subject is not None:
        content["data_subject"] = event.data_subject
    return content


def build_record(content: dict, *, sequence: int, recorded_at: str, prev_hash: str) -> dict:
    """Add the server-assigned fields to an event's content (in place: it is fresh)."""
    content["sequence"] = sequence
    content["recorded_at"] = recorded_at
    content["prev_hash"] = prev_hash
    return content


def content_of(record: dict) -> dict:
    """Strip the server-assigned fields from a stored record."""
    return {k: v for k, v in record.items() if k not in SERVER_FIELDS}


def stream_key(tenant: str, aggregate_type: str, aggregate_id: str) -> str:
    """One string per aggregate (``/`` cannot occur in any of the three parts)."""
    return f"{tenant}/{aggregate_type}/{aggregate_id}"
