"""The policy engine: decisions, reasons, and the SQL filter that must agree with them."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from portal.access.engine import decide, event_attributes, q_filter
from portal.access.policy import ConditionSpec, PolicySpec, Subject

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
EVENT = {
    "tenant": "acme", "aggregate_type": "Account", "aggregate_id": "acc-1", "event_type": "AccountUpdated",
    "classification": "confidential", "actor_id": "u-1", "actor_type": "user",
}


def policy(effect="allow", actions=("search",), conditions=(), **kwargs):
    return PolicySpec(effect=effect, actions=list(actions), conditions=list(conditions), **kwargs)


def subject(*policies, **attributes):
    return Subject(username="ann", policies=tuple(policies), **attributes)


def cond(attr, op, value):
    return {"attr": attr, "op": op, "value": value}


def test_default_deny():
    decision = decide(subject(), "search", EVENT, now=NOW)
    assert not decision and "default deny" in decision.reasons[0]


def test_allow_by_subject_attributes():
    s = subject(
        policy(conditions=[cond("tenant", "in", "subject.tenants"), cond("classification", "lte", "subject.clearance")]),
        tenants=("acme",), clearance="confidential",
    )
    decision = decide(s, "search", EVENT, now=NOW)
    assert decision and "allowed by policy 1" in decision.reasons[0]
    assert not decide(s, "search", {**EVENT, "tenant": "globex"}, now=NOW)
    assert not decide(s, "search", {**EVENT, "classification": "restricted"}, now=NOW)
    assert not decide(s, "view_event", EVENT, now=NOW)  # another action


def test_deny_overrides_allow_and_says_why():
    s = subject(policy(actions=["*"]), policy("deny", ["search"], [cond("event_type", "prefix", "Account")], label="no accounts"))
    decision = decide(s, "search", EVENT, now=NOW)
    assert not decision and decision.reasons == ("denied by no accounts (event_type prefix 'Account')",)
    assert decide(s, "view_event", EVENT, now=NOW)


def test_reasons_name_the_failed_condition():
    s = subject(policy(conditions=[cond("tenant", "eq", "globex")]))
    (reason,) = decide(s, "search", EVENT, now=NOW).reasons
    assert "tenant eq 'globex' is false for tenant='acme'" in reason


def test_validity_window():
    s = subject(policy(valid_from=NOW - timedelta(hours=1), valid_until=NOW + timedelta(hours=1)))
    assert decide(s, "search", EVENT, now=NOW)
    assert not decide(s, "search", EVENT, now=NOW + timedelta(hours=1))
    assert not decide(s, "search", EVENT, now=NOW - timedelta(hours=2))


def test_missing_subject_attribute_fails_closed():
    allow = subject(policy(conditions=[cond("tenant", "in", "subject.regions")]))
    assert not decide(allow, "search", EVENT, now=NOW)
    deny = subject(policy(), policy("deny", conditions=[cond("tenant", "in", "subject.regions")]))
    assert not decide(deny, "search", EVENT, now=NOW)
    extra = subject(policy(conditions=[cond("tenant", "in", "subject.regions")]), extra={"regions": ["acme"]})
    assert decide(extra, "search", EVENT, now=NOW)


def test_prefix_is_case_sensitive():
    s = subject(policy(conditions=[cond("aggregate_id", "prefix", "ACC")]))
    assert not decide(s, "search", EVENT, now=NOW)


@pytest.mark.parametrize(
    "bad, message",
    [
        (cond("tenant", "lte", "internal"), "classification only"),
        (cond("classification", "lte", "secret"), "must be one of"),
        (cond("tenant", "in", "acme"), "takes a list"),
        (cond("tenant", "eq", ["acme"]), "single string"),
        (cond("tenant", "eq", "subject."), "name the subject attribute"),
        (cond("owner", "eq", "x"), "attr"),
        (cond("tenant", "matches", "x"), "op"),
    ],
)
def test_bad_conditions_are_refused(bad, message):
    with pytest.raises(ValidationError, match=message):
        ConditionSpec(**bad)


def test_bad_policies_are_refused():
    with pytest.raises(ValidationError, match="actions"):
        PolicySpec(effect="allow", actions=[])
    with pytest.raises(ValidationError, match="later than valid_from"):
        PolicySpec(effect="allow", actions=["*"], valid_from=NOW, valid_until=NOW)
    with pytest.raises(ValidationError):
        PolicySpec(effect="allow", actions=["delete_everything"])


def test_event_attributes_from_a_record():
    record = {"tenant": "acme", "aggregate_type": "Account", "aggregate_id": "acc-1", "event_type": "X",
              "classification": "internal", "actor": {"id": "u-1", "type": "user"}}
    assert event_attributes(record)["actor_type"] == "user"


def test_q_filter_without_policies_matches_nothing():
    assert "pk__in" in str(q_filter(subject(), "search", now=NOW))
