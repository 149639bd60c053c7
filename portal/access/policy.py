"""Policies as data: their validated shape, and the subject they are judged for.

A policy is ``{"effect", "actions", "conditions", "valid_from", "valid_until"}``;
each condition is ``{"attr", "op", "value"}`` over an event attribute, with a
literal value or a subject attribute written ``"subject.<name>"``.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from audit_events.schema import Classification

__all__ = [
    "ACTIONS",
    "ATTRIBUTES",
    "CLASSIFICATIONS",
    "ConditionSpec",
    "OPERATORS",
    "PolicySpec",
    "SUBJECT_PREFIX",
    "Subject",
]

ACTIONS = (
    "search",
    "view_event",
    "view_timeline",
    "replay_state",
    "export_report",
    "view_pii",
    "manage_access",
    "break_glass",
    "erase_subject",
)
ATTRIBUTES = (
    "tenant",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "classification",
    "actor_id",
    "actor_type",
)
OPERATORS = ("eq", "in", "not_in", "prefix", "lte", "gte")
CLASSIFICATIONS = tuple(c.value for c in Classification)  # in increasing order
SUBJECT_PREFIX = "subject."

Action = Literal[
    "search", "view_event", "view_timeline", "replay_state", "export_report",
    "view_pii", "manage_access", "break_glass", "erase_subject", "*",
]


class ConditionSpec(BaseModel):
    """One test on an event attribute; all of a policy's conditions must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attr: Literal[
        "tenant", "aggregate_type", "aggregate_id", "event_type",
        "classification", "actor_id", "actor_type",
    ]
    op: Literal["eq", "in", "not_in", "prefix", "lte", "gte"]
    value: str | list[str]

    @model_validator(mode="after")
    def _check_value(self) -> "ConditionSpec":
        items = self.value if isinstance(self.value, list) else [self.value]
        if len(items) > 1000 or any(len(item) > 200 for item in items):
            raise ValueError("value: at most 1000 strings of at most 200 characters")
        if self.op in ("lte", "gte") and self.attr != "classification":
            raise ValueError(f"op: {self.op} applies to classification only")
        if isinstance(self.value, str) and self.value.startswith(SUBJECT_PREFIX):
            if not self.value[len(SUBJECT_PREFIX):]:
                raise ValueError("value: name the subject attribute, e.g. 'subject.tenants'")
            if self.op in ("lte", "gte") and self.value != "subject.clearance":
                raise ValueError(f"value: {self.op} compares classifications: use a level or 'subject.clearance'")
            return self  # resolved per subject when the policy is evaluated
        if self.op in ("in", "not_in"):
            if not isinstance(self.value, list):
                raise ValueError(f"value: {self.op} takes a list of strings")
        elif isinstance(self.value, list):
            raise ValueError(f"value: {self.op} takes a single string")
        if self.op in ("lte", "gte"):
            if self.attr != "classification":
                raise ValueError(f"op: {self.op} applies to classification only")
            if self.value not in CLASSIFICATIONS:
                raise ValueError(f"value: must be one of {', '.join(CLASSIFICATIONS)}")
        return self


class PolicySpec(BaseModel):
    """A validated policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effect: Literal["allow", "deny"]
    actions: list[Action] = Field(min_length=1)
    conditions: list[ConditionSpec] = Field(default_factory=list, max_length=50)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    label: str = ""
    #: set on the temporary policies of an active break-glass grant, never by files
    break_glass: bool = Field(default=False, exclude=True)

    @model_validator(mode="after")
    def _check_window(self) -> "PolicySpec":
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_until: must be later than valid_from")
        return self

    def in_force(self, now: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= now) and (
            self.valid_until is None or now < self.valid_until
        )


@dataclass(frozen=True)
class Subject:
    """Who is asking: their attributes and the policies of their roles."""

    username: str
    tenants: tuple[str, ...] = ()
    clearance: str = "public"
    departments: tuple[str, ...] = ()
    pii: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    policies: tuple[PolicySpec, ...] = ()

    def attribute(self, name: str) -> Any:
        """A subject attribute by name (built-in first, then extra); ``KeyError`` if none."""
        if name in ("tenants", "departments"):
            return list(getattr(self, name))
        if name in ("clearance", "pii", "username"):
            return getattr(self, name)
        return self.extra[name]
