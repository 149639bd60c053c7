"""The ingest schema: what a publisher may send as one audit event.

Validation happens here, once, before anything touches the store. Errors
name the field by its path so a publisher can fix the event it sent.
"""

import re
import uuid
from datetime import datetime, timezone
from enum import Enum
from functools import lru_cache
from ipaddress import ip_address
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "ActorIn",
    "Classification",
    "EventIn",
    "MAX_BATCH_EVENTS",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_TOO_LARGE",
    "RESERVED_TENANT_PREFIX",
    "SAFE_INTEGER",
    "TENANT_PATTERN",
    "ValidationError",
    "format_timestamp",
    "parse_timestamp",
    "resolve_pointer",
]

PAYLOAD_TOO_LARGE = "payload_too_large"
MAX_BATCH_EVENTS = 500
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PII_POINTERS = 100
MAX_PAYLOAD_DEPTH = 32
# JSON numbers are IEEE doubles for most consumers (RFC 8785 refuses more).
SAFE_INTEGER = 2**53 - 1

# Publishers' tenants; the portal's own tenants add a leading "_" (e.g. _portal)
# that no publisher key may hold.
RESERVED_TENANT_PREFIX = "_"
TENANT_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"
Tenant = Annotated[str, StringConstraints(pattern=rf"^_?{TENANT_PATTERN}$")]
AggregateType = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
]
# No "/": aggregate ids are path segments of the read API.
AggregateId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+=~-]{0,199}$")
]
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")]
ActorId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@+=~/-]{0,199}$")
]
TraceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
UserAgent = Annotated[
    str, StringConstraints(max_length=512, pattern=r"^[^\x00-\x1f\x7f]*$")
]


class Classification(str, Enum):
    """Sensitivity of an event, in increasing order."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return _CLASSIFICATION_ORDER.index(self)


_CLASSIFICATION_ORDER = list(Classification)

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: Any) -> datetime:
    # pydantic would also take epoch numbers and naive times; an audit record
    # needs an unambiguous instant, so only RFC 3339 with an offset passes.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a time zone offset")
        return value.astimezone(timezone.utc)
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, "
            "e.g. 2026-11-26T09:30:00Z or 2026-11-26T10:30:00+01:00"
        )
    text = value.replace("z", "Z").replace("t", "T")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # keep microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"is not a valid date-time: {exc}") from None
    try:
        parsed.astimezone(timezone.utc)  # records store UTC: it must exist
    except OverflowError:
        raise ValueError("is outside the range of representable times") from None
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


def format_timestamp(value: datetime) -> str:
    """Render an aware datetime the way records store it: UTC, microseconds, Z."""
    if value.utcoffset():
        value = value.astimezone(timezone.utc)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        value.year, value.month, value.day,
        value.hour, value.minute, value.second, value.microsecond,
    )


def parse_timestamp(text: str) -> datetime:
    """A record's timestamp (``format_timestamp``'s output, or any RFC 3339 with an offset) as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Return the value at an RFC 6901 JSON Pointer; raise ``KeyError`` if absent."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError("must start with '/'")
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                raise KeyError(f"no member {token!r}")
            current = current[token]
        elif isinstance(current, list):
            if not re.fullmatch(r"0|[1-9][0-9]*", token) or int(token) >= len(current):
                raise KeyError(f"no array element {token!r}")
            current = current[int(token)]
        else:
            raise KeyError(f"cannot descend into a {type(current).__name__}")
    return current


@lru_cache(maxsize=8192)  # publishers repeat the same few addresses
def normalise_ip(value: str) -> str:
    """The canonical text of an IP address; zone ids (``%eth0``) are refused."""
    if len(value) > 45 or "%" in value:
        raise ValueError("must be an IPv4 or IPv6 address (at most 45 characters, no zone id)")
    try:
        return str(ip_address(value))
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None


class ActorIn(BaseModel):
    """Who made the change."""

    model_config = ConfigDict(extra="forbid")

    id: ActorId
    type: Literal["user", "service", "system"]
    ip: str | None = None
    user_agent: UserAgent | None = None

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        return None if value is None else normalise_ip(value)


class EventIn(BaseModel):
    """One event as a publisher sends it (server fields are assigned later)."""

    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID | None = None
    tenant: Tenant
    aggregate_type: AggregateType
    aggregate_id: AggregateId
    event_type: EventType
    schema_version: StrictInt = Field(default=1, ge=1, le=10_000)
    occurred_at: Timestamp
    actor: ActorIn
    trace_id: TraceId | None = None
    #: whose personal data the event holds (e.g. a patient id); absent: the aggregate itself
    data_subject: AggregateId | None = None
    classification: Classification = Classification.INTERNAL
    payload: dict[str, Any]
    pii: list[str] = Field(default_factory=list, max_length=MAX_PII_POINTERS)
    expected_sequence: StrictInt | None = Field(default=None, ge=0)

    @field_validator("payload")
    @classmethod
    def _check_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = orjson.dumps(payload)
        except orjson.JSONEncodeError:
            # orjson refuses integers beyond 64 bits and lone surrogates; the
            # walk names the first offending value (the record could not be hashed).
            _check_json_values(payload, "", 0, strict_text=True)
            raise ValueError("is not representable as canonical JSON") from None
        size = len(encoded)
        if size > MAX_PAYLOAD_BYTES:
            raise PydanticCustomError(
                PAYLOAD_TOO_LARGE,
                "encoded payload is {size} bytes; the limit is {limit}",
                {"size": size, "limit": MAX_PAYLOAD_BYTES},
            )
        # Walking the payload costs time; the encoded text tells when it is needed.
        brackets = encoded.count(b"[") + encoded.count(b"{")
        if brackets > MAX_PAYLOAD_DEPTH or re.search(rb"\d{16}", encoded):
            _check_json_values(payload, "", 0)
        return payload

    @field_validator("pii")
    @classmethod
    def _check_pointers(cls, pii: list[str], info: ValidationInfo) -> list[str]:
        payload = info.data.get("payload")
        if payload is None:  # the payload's own error is reported already
            return pii
        seen = set()
        for index, pointer in enumerate(pii):
            if pointer in seen:
                raise ValueError(f"[{index}] {pointer!r} is listed twice")
            seen.add(pointer)
            if pointer == "":
                raise ValueError(
                    f"[{index}] the empty pointer names the whole payload; "
                    "point at the members that hold personal data"
                )
            try:
                resolve_pointer(payload, pointer)
            except KeyError as exc:
                raise ValueError(
                    f"[{index}] {pointer!r} does not resolve in payload: {exc.args[0]}"
                ) from None
        return pii


def _check_unicode(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where!r} holds a lone UTF-16 surrogate, which is not valid Unicode") from None


def _check_json_values(value: Any, path: str, depth: int, strict_text: bool = False) -> None:
    if depth > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"nested deeper than {MAX_PAYLOAD_DEPTH} levels at {path or '/'!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}/{_escape(key)}"
            if strict_text:
                _check_unicode(key, child)
            _check_json_values(item, child, depth + 1, strict_text)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_values(item, f"{path}/{index}", depth + 1, strict_text)
    elif isinstance(value, str):
        if strict_text:
            _check_unicode(value, path)
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > SAFE_INTEGER:
            raise ValueError(
                f"integer {value} at {path!r} is outside ±(2^53-1); send it as a string"
            )


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
