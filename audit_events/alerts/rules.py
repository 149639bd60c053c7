"""What an alert rule may say, typed: an admin's rule is validated against these on save.

Three kinds:

- ``threshold``: at least ``count`` events of ``event_types`` within ``window_seconds`` of
  event time, counted per ``group_by`` key (e.g. 3 ``PasswordChanged`` of one aggregate in
  5 minutes; 10 ``SignInFailed`` from one IP in a minute);
- ``match``: one event of ``event_types`` (and at least ``min_classification``), optionally
  only outside business hours in a time zone (restricted records read at night; any break-glass);
- ``silence``: a tenant that sent events goes quiet for longer than ``quiet_seconds``.
"""

from datetime import time
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

__all__ = ["BusinessHours", "MatchRule", "RuleSpec", "SilenceRule", "ThresholdRule", "parse_rule_spec"]

CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
EventType = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdRule(_Spec):
    kind: Literal["threshold"]
    event_types: list[EventType] = Field(min_length=1, max_length=20)
    count: int = Field(ge=2, le=10_000)
    window_seconds: int = Field(ge=1, le=7 * 86_400)
    #: what is counted together: the event's aggregate, its actor, or the actor's IP address
    group_by: Literal["aggregate", "actor", "actor_ip"]


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


class MatchRule(_Spec):
    kind: Literal["match"]
    event_types: list[EventType] = Field(min_length=1, max_length=20)
    min_classification: Literal[CLASSIFICATIONS] | None = None
    #: when set, only events that occurred outside these hours match
    outside_hours: BusinessHours | None = None


class SilenceRule(_Spec):
    kind: Literal["silence"]
    quiet_seconds: int = Field(ge=60, le=30 * 86_400)


RuleSpec = Annotated[Union[ThresholdRule, MatchRule, SilenceRule], Field(discriminator="kind")]
_ADAPTER = TypeAdapter(RuleSpec)


def parse_rule_spec(value) -> ThresholdRule | MatchRule | SilenceRule:
    """The spec, validated (``pydantic.ValidationError`` names each field and its problem)."""
    return _ADAPTER.validate_python(value)
