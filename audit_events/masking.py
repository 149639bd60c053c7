"""Masking of personal data: values at an event's ``pii`` pointers."""

import copy

from .schema import resolve_pointer

__all__ = ["MASK", "mask_record"]

MASK = {"masked": True}


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def mask_record(record: dict) -> dict:
    """A copy of ``record`` with every value at its ``pii`` pointers replaced by ``MASK``.

    Longer pointers inside a masked value need nothing more: the whole value is gone.
    """
    pointers = record.get("pii") or []
    if not pointers:
        return record
    masked = dict(record)
    payload = copy.deepcopy(record.get("payload") or {})
    for pointer in sorted(pointers, key=len):
        tokens = _tokens(pointer)
        parent_pointer = pointer.rsplit("/", 1)[0]
        try:
            parent = resolve_pointer(payload, parent_pointer)
        except KeyError:
            continue  # inside a value masked already
        key = tokens[-1]
        if isinstance(parent, dict) and key in parent:
            parent[key] = dict(MASK)
        elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
            parent[int(key)] = dict(MASK)
    masked["payload"] = payload
    return masked
