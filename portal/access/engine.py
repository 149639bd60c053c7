"""The policy engine: one compilation, several outputs.

For a subject and an action the engine compiles the subject's policies once
(subject attributes resolved, conditions turned into predicates) and yields
both a per-event decision with its reasons and a Django ``Q`` that selects
exactly the events the decision allows, so that lists, counts and pages never
include an event a single read would refuse. Default deny; a matching deny
overrides every allow. A condition whose subject attribute is missing or of
the wrong kind fails closed: it never lets an allow match and always lets a
deny match.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from django.db.models import Q

from .policy import CLASSIFICATIONS, SUBJECT_PREFIX, ConditionSpec, Subject

__all__ = [
    "CompiledPolicy",
    "Decision",
    "compile_policies",
    "decide",
    "event_attributes",
    "opensearch_filter",
    "q_filter",
]

_RANK = {name: rank for rank, name in enumerate(CLASSIFICATIONS)}
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__in=[])
OS_MATCH_ALL = {"match_all": {}}
OS_MATCH_NONE = {"match_none": {}}


@dataclass(frozen=True)
class Decision:
    """The answer for one event, and why."""

    allowed: bool
    reasons: tuple[str, ...]
    #: allowed only through break-glass (emergency) access
    break_glass: bool = False
    #: a break-glass policy is among those that allow it
    via_break_glass: bool = False

    def __bool__(self):
        return self.allowed


class _Unknown:
    """A subject attribute that could not be resolved (fails closed)."""

    def __init__(self, why: str):
        self.why = why


@dataclass(frozen=True)
class _Condition:
    attr: str
    op: str
    value: Any  # resolved literal, or _Unknown
    text: str

    def holds(self, attrs: Mapping[str, str]) -> bool | None:
        """True/False, or None when the value is unknown."""
        if isinstance(self.value, _Unknown):
            return None
        actual = attrs.get(self.attr)
        if actual is None:
            return False
        op, value = self.op, self.value
        if op == "eq":
            return actual == value
        if op == "in":
            return actual in value
        if op == "not_in":
            return actual not in value
        if op == "prefix":
            return actual.startswith(value)
        if op == "lte":
            return actual in _RANK and _RANK[actual] <= _RANK[value]
        return actual in _RANK and _RANK[actual] >= _RANK[value]  # gte

    def os_query(self) -> dict | None:
        """The condition as an OpenSearch query clause, or None when the value is unknown."""
        if isinstance(self.value, _Unknown):
            return None
        attr, op, value = self.attr, self.op, self.value
        if op == "eq":
            return {"term": {attr: value}}
        if op == "in":
            return {"terms": {attr: list(value)}} if value else OS_MATCH_NONE
        if op == "not_in":
            return {"bool": {"must_not": [{"terms": {attr: list(value)}}]}} if value else OS_MATCH_ALL
        if op == "prefix":
            return {"prefix": {attr: value}}
        bound = _RANK[value]
        if op == "lte":
            levels = [c for c in CLASSIFICATIONS if _RANK[c] <= bound]
        else:
            levels = [c for c in CLASSIFICATIONS if _RANK[c] >= bound]
        return {"terms": {attr: levels}}

    def q(self, fields: Mapping[str, str]) -> Q | None:
        """The condition as a filter, or None when the value is unknown."""
        if isinstance(self.value, _Unknown):
            return None
        column, op, value = fields[self.attr], self.op, self.value
        if op == "eq":
            return Q(**{column: value})
        if op == "in":
            return Q(**{f"{column}__in": value}) if value else MATCH_NONE
        if op == "not_in":
            return ~Q(**{f"{column}__in": value}) if value else MATCH_ALL
        if op == "prefix":
            return Q(**{f"{column}__exactprefix": value})
        bound = _RANK[value]
        if op == "lte":
            levels = [c for c in CLASSIFICATIONS if _RANK[c] <= bound]
        else:
            levels = [c for c in CLASSIFICATIONS if _RANK[c] >= bound]
        return Q(**{f"{column}__in": levels})


@dataclass(frozen=True)
class CompiledPolicy:
    effect: str
    label: str
    conditions: tuple[_Condition, ...] = field(default_factory=tuple)
    break_glass: bool = False

    def matches(self, attrs: Mapping[str, str]) -> bool:
        results = [c.holds(attrs) for c in self.conditions]
        if self.effect == "deny":  # unknown counts as a match: fail closed
            return all(r is None or r for r in results)
        return all(r is True for r in results)

    def os_query(self) -> dict:
        clauses = []
        for condition in self.conditions:
            part = condition.os_query()
            if part is None:
                if self.effect == "allow":
                    return OS_MATCH_NONE
                continue  # as in q(): a deny with an unknown condition ignores it
            clauses.append(part)
        return {"bool": {"filter": clauses}} if clauses else OS_MATCH_ALL

    def q(self, fields: Mapping[str, str]) -> Q:
        combined = MATCH_ALL
        for condition in self.conditions:
            part = condition.q(fields)
            if part is None:
                if self.effect == "allow":
                    return MATCH_NONE
                continue  # a deny with an unknown condition ignores that condition
            combined &= part
        return combined


def _resolve(condition: ConditionSpec, subject: Subject) -> Any:
    value = condition.value
    if not (isinstance(value, str) and value.startswith(SUBJECT_PREFIX)):
        return value
    name = value[len(SUBJECT_PREFIX):]
    try:
        resolved = subject.attribute(name)
    except KeyError:
        return _Unknown(f"subject has no attribute {name!r}")
    if condition.op in ("in", "not_in"):
        if isinstance(resolved, (list, tuple)) and all(isinstance(v, str) for v in resolved):
            return list(resolved)
        if isinstance(resolved, str):
            return [resolved]
        return _Unknown(f"subject.{name} is not a list of strings")
    if not isinstance(resolved, str):
        return _Unknown(f"subject.{name} is not a string")
    if condition.op in ("lte", "gte") and resolved not in _RANK:
        return _Unknown(f"subject.{name} is not a classification")
    return resolved


def _compile_condition(condition: ConditionSpec, subject: Subject) -> _Condition:
    value = _resolve(condition, subject)
    text = f"{condition.attr} {condition.op} {condition.value!r}"
    if value is not condition.value and not isinstance(value, _Unknown):
        text = f"{condition.attr} {condition.op} {condition.value} (= {value!r})"
    return _Condition(condition.attr, condition.op, value, text)


def compile_policies(subject: Subject, action: str, *, now: datetime) -> list[CompiledPolicy]:
    """The subject's policies that govern ``action`` now, with attributes resolved."""
    compiled = []
    for index, policy in enumerate(subject.policies):
        if not policy.in_force(now):
            continue
        if action not in policy.actions and "*" not in policy.actions:
            continue
        conditions = tuple(_compile_condition(c, subject) for c in policy.conditions)
        compiled.append(
            CompiledPolicy(
                policy.effect, policy.label or f"policy {index + 1}", conditions, policy.break_glass
            )
        )
    return compiled


def decide(
    subject: Subject,
    action: str,
    attrs: Mapping[str, str],
    *,
    now: datetime,
    compiled: list[CompiledPolicy] | None = None,
) -> Decision:
    """May ``subject`` perform ``action`` on the event with attributes ``attrs``?

    ``compiled`` is ``compile_policies(subject, action, now=now)`` when the
    caller judges many events alike (compiling is the costly part).
    """
    policies = compile_policies(subject, action, now=now) if compiled is None else compiled
    allows = [
        p for p in policies
        if p.effect == "allow" and p.matches(attrs)
        and (not p.break_glass or _break_glass_gate(subject, attrs, now))
    ]
    denies = [p for p in policies if p.effect == "deny" and p.matches(attrs)]
    if denies:
        return Decision(False, tuple(f"denied by {p.label} ({_describe(p)})" for p in denies))
    if allows:
        return Decision(
            True,
            tuple(f"allowed by {p.label} ({_describe(p)})" for p in allows),
            break_glass=all(p.break_glass for p in allows),
            via_break_glass=any(p.break_glass for p in allows),
        )
    governing = [p for p in policies if p.effect == "allow"]
    if not governing:
        return Decision(False, (f"no policy grants {action!r} (default deny)",))
    reasons = []
    for policy in governing:
        failed = [c for c in policy.conditions if c.holds(attrs) is not True]
        reasons.append(
            f"{policy.label} does not apply: "
            + "; ".join(_why_not(c, attrs) for c in failed)
        )
    return Decision(False, tuple(reasons))


def q_filter(
    subject: Subject,
    action: str,
    *,
    now: datetime,
    fields: Mapping[str, str] | None = None,
    only_break_glass: bool = False,
) -> Q:
    """A filter selecting exactly the events ``decide`` allows.

    ``fields`` maps event attributes to the model's field names (the events
    table by default). ``only_break_glass`` keeps just what emergency grants
    allow (denies still apply).
    """
    fields = fields or {name: name for name in _ATTRIBUTE_NAMES}
    policies = compile_policies(subject, action, now=now)
    allowed = MATCH_NONE
    for policy in (p for p in policies if p.effect == "allow"):
        if only_break_glass and not policy.break_glass:
            continue
        granted = policy.q(fields)
        if policy.break_glass:
            granted &= q_filter(_ordinary(subject), "break_glass", now=now, fields=fields)
        allowed |= granted
    for policy in (p for p in policies if p.effect == "deny"):
        allowed &= ~policy.q(fields)
    return allowed


def tenant_scope(subject: Subject, action: str, *, now: datetime) -> list[str] | None:
    """The tenants ``q_filter(subject, action)`` can match at most: the union of each
    allow policy's tenant condition (``eq`` or ``in``), or None when one allows any tenant."""
    tenants: set[str] = set()
    for policy in (p for p in compile_policies(subject, action, now=now) if p.effect == "allow"):
        named = [c for c in policy.conditions if c.attr == "tenant" and c.op in ("eq", "in")]
        if any(isinstance(c.value, _Unknown) for c in policy.conditions):
            continue  # q() makes such a policy match nothing
        if not named:
            return None
        allowed = None
        for condition in named:  # several conditions on tenant: each must hold
            values = {condition.value} if condition.op == "eq" else set(condition.value)
            allowed = values if allowed is None else allowed & values
        tenants |= allowed
    return sorted(tenants)


def _ordinary(subject: Subject) -> Subject:
    """The subject without the temporary policies of break-glass grants."""
    return replace(subject, policies=tuple(p for p in subject.policies if not p.break_glass))


def _break_glass_gate(subject: Subject, attrs: Mapping[str, str], now: datetime) -> bool:
    # A grant opens only what the person's policies allow ``break_glass`` on,
    # event by event: their allow conditions and denies bound the emergency.
    return decide(_ordinary(subject), "break_glass", attrs, now=now).allowed


def opensearch_filter(
    subject: Subject, action: str, *, now: datetime, only_break_glass: bool = False
) -> dict:
    """The same selection as ``q_filter``, as an OpenSearch query (keyword fields
    named like the event attributes)."""
    policies = compile_policies(subject, action, now=now)
    should = []
    for policy in (p for p in policies if p.effect == "allow"):
        if only_break_glass and not policy.break_glass:
            continue
        granted = policy.os_query()
        if policy.break_glass:
            granted = {"bool": {"filter": [granted, opensearch_filter(_ordinary(subject), "break_glass", now=now)]}}
        should.append(granted)
    if not should:
        return OS_MATCH_NONE
    must_not = [p.os_query() for p in policies if p.effect == "deny"]
    return {"bool": {"should": should, "minimum_should_match": 1, "must_not": must_not}}


def event_attributes(record: Mapping[str, Any]) -> dict[str, str]:
    """The attributes policies test, taken from a stored record."""
    actor = record.get("actor") or {}
    return {
        "tenant": record.get("tenant"),
        "aggregate_type": record.get("aggregate_type"),
        "aggregate_id": record.get("aggregate_id"),
        "event_type": record.get("event_type"),
        "classification": record.get("classification"),
        "actor_id": actor.get("id"),
        "actor_type": actor.get("type"),
    }


_ATTRIBUTE_NAMES = (
    "tenant", "aggregate_type", "aggregate_id", "event_type",
    "classification", "actor_id", "actor_type",
)


def _describe(policy: CompiledPolicy) -> str:
    return " and ".join(c.text for c in policy.conditions) or "no conditions"


def _why_not(condition: _Condition, attrs: Mapping[str, str]) -> str:
    if isinstance(condition.value, _Unknown):
        return f"{condition.text}: {condition.value.why}"
    return f"{condition.text} is false for {condition.attr}={attrs.get(condition.attr)!r}"


