"""What an alert rule may say, typed: an admin's rule is validated against these on save.

Three kinds:

- ``threshold``: at least ``count`` events of ``event_types`` within ``window_seconds`` of
  event time, counted per ``group_by`` key (e.g. 3 ``PasswordChanged`` of one aggregate in
  5 minutes; 10 ``SignInFailed`` from one IP in a minute);
- ``match``: one event of ``event_types`` (and at least ``min_classification``), optionally
  only outside business hours in a time zone (restricted records read at night; any break-glass);
  matches of one key within ``window_seconds`` of the first make one alert;
- ``silence``: a tenant (or an actor, e.g. a publishing service) that sent events goes quiet
  for longer than ``quiet_seconds`` of event time.

Event types may hold ``*`` as a wildcard (``*Viewed``). For the portal's own access-audit
events (tenant ``_portal``) the tenant and classification a rule sees are those of the record
that was read, when the event names one (``payload.target``).
"""

from datetime import datetime, time
from fnmatch import fnmatchcase
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

__all__ = ["BusinessHours", "MatchRule", "RuleSpec", "SilenceRule", "ThresholdRule", "classification_rank",
           "parse_rule_spec"]

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
EventType = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z*][A-Za-z0-9_.*-]*$")]
GroupBy = Literal["aggregate", "actor", "actor_ip"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Typed(_Spec):
    event_types: list[EventType] = Field(min_length=1, max_length=20)

    def matches_type(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pattern) for pattern in self.event_types)


class ThresholdRule(_Typed):
    kind: Literal["threshold"]
    #: at most 300: up to twice as many events are kept per key, each up to ~500 bytes, and a
    #: DynamoDB item holds 400 KB
    count: int = Field(ge=2, le=300)
    window_seconds: int = Field(ge=1, le=7 * 86_400)
    #: what is counted together: the event's aggregate, its actor, or the actor's IP address
    group_by: GroupBy


class BusinessHours(_Spec):
    start: time
    end: time
    timezone: str = "UTC"
    weekdays_only: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def holds(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls inside business hours, in their time zone."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if self.weekdays_only and local.weekday() >= 5:
            return False
        return self.start <= local.time().replace(tzinfo=None) < self.end


class MatchRule(_Typed):
    kind: Literal["match"]
    min_classification: Literal[CLASSIFICATIONS] | None = None
    #: when set, only events that occurred outside these hours match
    outside_hours: BusinessHours | None = None
    #: matches of one key within this long of the first are one alert
    group_by: GroupBy = "actor"
    window_seconds: int = Field(default=3600, ge=1, le=86_400)

    def matches(self, event_type: str, classification: str, occurred_at: datetime) -> bool:
        if not self.matches_type(event_type):
            return False
        if self.min_classification and classification_rank(classification) < classification_rank(self.min_classification):
            return False
        return self.outside_hours is None or not self.outside_hours.holds(occurred_at)


class SilenceRule(_Spec):
    kind: Literal["silence"]
    quiet_seconds: int = Field(ge=60, le=30 * 86_400)
    group_by: Literal["tenant", "actor"] = "tenant"


def classification_rank(classification: str) -> int:
    """Where a classification stands, lowest first (-1: unknown, below every rule's minimum)."""
    return CLASSIFICATIONS.index(classification) if classification in CLASSIFICATIONS else -1


RuleSpec = Annotated[Union[ThresholdRule, MatchRule, SilenceRule], Field(discriminator="kind")]
_ADAPTER = TypeAdapter(RuleSpec)


def parse_rule_spec(value) -> ThresholdRule | MatchRule | SilenceRule:
    """The spec, validated (``pydantic.ValidationError`` names each field and its problem)."""
    return _ADAPTER.validate_python(value)
