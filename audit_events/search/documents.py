"""What gets indexed for an event: its searchable words, personal data apart."""

import ipaddress
import re

from ..schema import resolve_pointer
from ..store import StoredEvent

__all__ = ["document_for", "ip_hex"]


def ip_hex(value: str | None) -> str | None:
    """32 hex digits of an address (IPv4 mapped into IPv6): CIDR blocks become ranges."""
    if not value:
        return None
    address = ipaddress.ip_address(value)
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


def _spaced(name: str) -> str:
    # "PasswordChanged" is also found by "password" and by "changed".
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|[._-]", " ", name)


def _words(value, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _words(item, out)
    elif isinstance(value, list):
        for item in value:
            _words(item, out)
    elif isinstance(value, bool) or value is None:
        return
    else:
        out.append(str(value))


def document_for(event: StoredEvent, keys=None) -> dict:
    """The fields of the event's search document. Personal data is opened from its sealed
    form (``keys``: a ``KeyCache`` shared by a batch); once erased, it is not indexed."""
    from ..privacy.sealing import ERASED, KeyCache, open_record

    # The stored shape: its pii pointers resolve there (an upcast payload may
    # have moved a field, and with it personal data into the public words).
    record = open_record(event.record, keys or KeyCache())
    actor = record.get("actor") or {}
    payload = record.get("payload") or {}
    pii_words: list[str] = []
    public_payload = payload
    pointers = record.get("pii") or []
    if pointers:
        from copy import deepcopy

        public_payload = deepcopy(payload)
        for pointer in sorted(pointers, key=len, reverse=True):
            try:
                value = resolve_pointer(payload, pointer)
            except KeyError:
                continue
            if value != ERASED:
                _words(value, pii_words)
            parent_pointer, _, last = pointer.rpartition("/")
            try:
                parent = resolve_pointer(public_payload, parent_pointer)
            except KeyError:
                continue
            token = last.replace("~1", "/").replace("~0", "~")
            if isinstance(parent, dict):
                parent.pop(token, None)
            elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
                parent[int(token)] = None
    words = [record["event_type"], _spaced(record["event_type"]), record["aggregate_type"],
             _spaced(record["aggregate_type"]), record["aggregate_id"], actor.get("id", "")]
    for extra in (actor.get("ip"), actor.get("user_agent"), record.get("trace_id")):
        if extra:
            words.append(extra)
    _words(public_payload, words)
    return {
        "position": event.position,
        "event_id": record["event_id"],
        "tenant": record["tenant"],
        "aggregate_type": record["aggregate_type"],
        "aggregate_id": record["aggregate_id"],
        "event_type": record["event_type"],
        "actor_id": actor.get("id", ""),
        "actor_type": actor.get("type", ""),
        "ip": actor.get("ip"),
        "ip_hex": ip_hex(actor.get("ip")),
        "classification": record["classification"],
        "trace_id": record.get("trace_id"),
        "occurred_at": record["occurred_at"],
        "recorded_at": record["recorded_at"],
        "text": " ".join(words),
        "pii_text": " ".join(pii_words),
    }
