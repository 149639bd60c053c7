"""Versioned event schemas and upcasters.

A publisher registers a pydantic model per (event_type, schema_version):
events of a registered version have their payload validated on ingest (422
naming the field on mismatch); unregistered types stay free JSON. Upcasters
lift a payload from version N to N+1; reads chain them up to the newest
version — replay and the search projection read upcast records — while the
stored event, and so its hash, stays exactly as written.

Example (in an app's ``ready()``)::

    class UserUpdatedV2(BaseModel):
        full_name: str

    register_schema("UserUpdated", 2, UserUpdatedV2)
    register_upcaster("UserUpdated", 1, lambda p: {"full_name": p["name"],
                                                    **{k: v for k, v in p.items() if k != "name"}})
"""

from typing import Callable

from pydantic import BaseModel, ValidationError

__all__ = [
    "clear_registry",
    "payload_errors",
    "register_schema",
    "register_upcaster",
    "upcast_record",
]

_SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {}
_UPCASTERS: dict[tuple[str, int], Callable[[dict], dict]] = {}


def register_schema(event_type: str, version: int, model: type[BaseModel]) -> None:
    _SCHEMAS[(event_type, version)] = model


def register_upcaster(event_type: str, from_version: int, upcaster: Callable[[dict], dict]) -> None:
    """``upcaster`` turns a version ``from_version`` payload into version ``from_version + 1``."""
    _UPCASTERS[(event_type, from_version)] = upcaster


def clear_registry() -> None:
    _SCHEMAS.clear()
    _UPCASTERS.clear()


def validation_messages(error: ValidationError, whole: str) -> list[str]:
    """``"path: problem"`` for each of a pydantic error's problems (``whole``: the path of one
    about the whole object), without pydantic's "Value error, " preamble."""
    return [f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False)]


def payload_errors(event_type: str, version: int, payload: dict) -> list[tuple[str, str]]:
    """``(path, message)`` for each way ``payload`` misses its registered schema (none: fine)."""
    model = _SCHEMAS.get((event_type, version))
    if model is None:
        return []
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    return []


def upcast_record(record: dict) -> dict:
    """The record with its payload lifted to the newest registered version (a copy if changed)."""
    version, event_type = record.get("schema_version", 1), record["event_type"]
    payload = record.get("payload") or {}
    changed = False
    while (event_type, version) in _UPCASTERS:
        payload = _UPCASTERS[(event_type, version)](payload)
        version += 1
        changed = True
    if not changed:
        return record
    return {**record, "payload": payload, "schema_version": version, "upcast_from": record.get("schema_version", 1)}


def upcaster_fingerprint() -> str:
    """Names the registered upcasters: a snapshot folded under others is stale."""
    return ";".join(
        f"{event_type}:{version}:{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
        for (event_type, version), fn in sorted(_UPCASTERS.items())
    )
