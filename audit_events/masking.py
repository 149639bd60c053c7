"""Masking of personal data: values at an event's ``pii`` pointers."""

import copy
from typing import Any, Callable

from .schema import resolve_pointer

__all__ = ["MASK", "mask_record", "replace_at_pointers"]

MASK = {"masked": True}


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def replace_at_pointers(payload, pointers, replace: Callable[[Any, str], Any]):
    """A copy of ``payload`` with the value at each of ``pointers`` replaced by
    ``replace(value, pointer)``: masking, sealing. A pointer inside a value replaced already
    needs nothing more (the whole value is gone); one that does not resolve is left."""
    payload = copy.deepcopy(payload)
    replaced = []  # the new values, held so that a parent can be recognised as one of them
    for pointer in sorted(pointers, key=len):
        try:
            parent = resolve_pointer(payload, pointer.rsplit("/", 1)[0])
        except KeyError:
            continue  # inside a value replaced already
        if any(parent is value for value in replaced):
            continue
        key = _tokens(pointer)[-1]
        if isinstance(parent, dict) and key in parent:
            parent[key] = new = replace(parent[key], pointer)
        elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
            parent[int(key)] = new = replace(parent[int(key)], pointer)
        else:
            continue
        replaced.append(new)
    return payload


def mask_record(record: dict) -> dict:
    """A copy of ``record`` with every value at its ``pii`` pointers replaced by ``MASK``."""
    pointers = record.get("pii") or []
    if not pointers:
        return record
    return {**record, "payload": replace_at_pointers(record.get("payload") or {}, pointers,
                                                     lambda value, pointer: dict(MASK))}
