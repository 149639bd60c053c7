"""Turn a request body into validated events, or say exactly what is wrong."""

import json
import math
from dataclasses import dataclass, field

from django.conf import settings
from pydantic import TypeAdapter

from .schema import MAX_BATCH_EVENTS, PAYLOAD_TOO_LARGE, EventIn, ValidationError
from .schemas import payload_errors

__all__ = ["IngestError", "parse_events"]

_EVENTS = TypeAdapter(list[EventIn])


@dataclass
class IngestError(Exception):
    """A request that cannot be stored; ``status`` is the HTTP status to answer."""

    status: int
    detail: str
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        body = {"detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # e.g. 1e400: JSON allows it, no reader can hold it
        raise ValueError(f"number {text} is out of range")
    return value


def _unique_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate member name {key!r}")
            seen.add(key)
    return obj


def _decode(body: bytes):
    limit = settings.AUDIT_MAX_REQUEST_BYTES
    if len(body) > limit:
        raise IngestError(413, f"request body is {len(body)} bytes; the limit is {limit}")
    try:
        # Duplicate names would let two readers see two different events.
        return json.loads(
            body,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"request body is not valid JSON: {exc}") from None


def _path(prefix: str, loc: tuple) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def parse_events(body: bytes) -> tuple[list[EventIn], bool]:
    """Validate a body holding one event or ``{"events": [...]}``.

    Returns the events and whether the body was a batch.
    """
    document = _decode(body)
    if isinstance(document, dict) and set(document) == {"events"}:
        items, prefix = document["events"], "events"
        if not isinstance(items, list):
            raise IngestError(422, "validation failed", [_error("events", "must be a list")])
        if not items:
            raise IngestError(422, "validation failed", [_error("events", "must not be empty")])
        if len(items) > MAX_BATCH_EVENTS:
            raise IngestError(
                413,
                f"a batch holds at most {MAX_BATCH_EVENTS} events; this one has {len(items)}: "
                "split it",
            )
    elif isinstance(document, dict):
        items, prefix = [document], ""
    else:
        raise IngestError(
            422,
            "validation failed",
            [_error("body", 'must be an event object or {"events": [...]}')],
        )
    try:
        events = _EVENTS.validate_python(items)
    except ValidationError as exc:
        errors, too_large = [], False
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            if prefix == "":
                loc = loc[1:]  # the single event was wrapped in a list
            too_large = too_large or err["type"] == PAYLOAD_TOO_LARGE
            message = err["msg"].removeprefix("Value error, ")
            errors.append(_error(_path(prefix, tuple(loc)), message))
        if too_large:
            raise IngestError(413, "an event is too large", errors) from None
        raise IngestError(422, "validation failed", errors) from None
    # Registered versions of an event type also check the payload's own shape.
    errors = []
    for index, event in enumerate(events):
        base = f"{prefix}[{index}].payload" if prefix else "payload"
        for path, message in payload_errors(event.event_type, event.schema_version, event.payload):
            errors.append(_error(f"{base}.{path}" if path else base, message))
    if errors:
        raise IngestError(422, "payload does not match the registered schema", errors)
    return events, prefix == "events"


def _error(path: str, message: str) -> dict:
    return {"field": path, "message": message}
