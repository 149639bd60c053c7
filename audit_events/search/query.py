"""The search query: parsed from request parameters, every problem named."""

import base64
import ipaddress
import json
from datetime import datetime, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["SearchQuery", "SearchQueryError", "decode_cursor", "encode_cursor", "in_utc", "later_than_from",
           "parse_search_params"]

FACETS = ("event_type", "aggregate_type", "actor_id", "tenant", "classification")


class SearchQueryError(ValueError):
    """Bad search parameters; ``errors`` holds ``{"field", "message"}`` items."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def in_utc(value):
    """A ``from``/``to`` validator: the instant in UTC (the indexes compare in UTC)."""
    if value is None:
        return None
    try:  # year 1 at +14:00 has no UTC instant
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is outside the range of dates") from None


def later_than_from(value, info):
    """A ``to`` validator: after ``from`` (validated before it), when both are given."""
    start = info.data.get("from_")
    if value is not None and start is not None and value <= start:
        raise ValueError("must be later than 'from'")
    return value


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    q: str | None = Field(None, max_length=500)
    tenant: str | None = Field(None, max_length=64)
    aggregate_type: str | None = Field(None, max_length=64)
    aggregate_id: str | None = Field(None, max_length=200)
    event_type: str | None = Field(None, max_length=100)
    actor_id: str | None = Field(None, max_length=200)
    actor_type: Literal["user", "service", "system"] | None = None
    ip: str | None = Field(None, max_length=64, description="an address or a CIDR block")
    classification: Literal["public", "internal", "confidential", "restricted"] | None = None
    trace_id: str | None = Field(None, max_length=128)
    from_: AwareDatetime | None = Field(None, alias="from")
    to: AwareDatetime | None = None
    time: Literal["occurred", "recorded"] = "occurred"
    sort: Literal["newest", "oldest"] = "newest"
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=200)

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, value):
        if value is None:
            return None
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError("must be an IP address or a CIDR block such as 10.0.0.0/8") from None

    @field_validator("from_", "to")
    @classmethod
    def _in_utc(cls, value):
        return in_utc(value)

    @field_validator("to")
    @classmethod
    def _check_range(cls, value, info):
        return later_than_from(value, info)

    @property
    def network(self):
        return ipaddress.ip_network(self.ip) if self.ip else None


def parse_search_params(params: dict) -> SearchQuery:
    """A ``SearchQuery`` from request parameters (empty values ignored)."""
    data = {k: v for k, v in params.items() if v not in ("", None)}
    try:
        query = SearchQuery.model_validate(data)
    except ValidationError as exc:
        raise SearchQueryError([
            {"field": ".".join(str(p) for p in e["loc"]).replace("from_", "from") or "query",
             "message": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors(include_url=False)
        ]) from None
    if query.cursor is not None:
        decode_cursor(query.cursor, sort=query.sort)  # refuse a bad cursor now, not later
    return query


def encode_cursor(position: int, *, sort: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": position, "s": sort}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, sort: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position, cursor_sort = data["p"], data["s"]
        if type(position) is not int or not 0 <= position < 2**63 or cursor_sort not in ("newest", "oldest"):
            raise ValueError("out of range")
    except (ValueError, KeyError, TypeError, OverflowError):
        raise SearchQueryError([{"field": "cursor", "message": "is not a cursor this API returned"}]) from None
    if cursor_sort != sort:
        raise SearchQueryError([{"field": "cursor", "message": f"belongs to sort={cursor_sort}, not sort={sort}"}])
    return position


def histogram_interval(start: datetime, end: datetime) -> str:
    """A bucket size giving a readable number of bars for the range."""
    days = (end - start).total_seconds() / 86400
    if days <= 2:
        return "hour"
    if days <= 92:
        return "day"
    if days <= 730:
        return "week"
    return "month"
