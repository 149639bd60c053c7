"""The SQL filter selects exactly the events the per-event decision allows.

Random policies and subjects (hypothesis) against a fixed, varied set of
stored events, on SQLite and on PostgreSQL.
"""

import random
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit_events.models import StoredEvent
from portal.access.engine import decide, q_filter, tenant_scope
from portal.access.policy import ACTIONS, CLASSIFICATIONS, PolicySpec, Subject
from tests.audit_events.store.test_sql import require_postgres

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
VALUES = {
    "tenant": ["acme", "globex", "acme-eu", "Acme", "_portal"],
    "aggregate_type": ["Account", "Acc", "account", "Patient", "Order"],
    "aggregate_id": ["acc-1", "acc-10", "ACC-1", "p-7", "o-1", "acc"],
    "event_type": ["AccountUpdated", "AccountOpened", "PatientRecordViewed", "OrderPaid", "Account"],
    "classification": list(CLASSIFICATIONS),
    "actor_id": ["u-1", "u-10", "svc-a", "U-1"],
    "actor_type": ["user", "service", "system"],
}
SUBJECT_REFS = ["subject.tenants", "subject.clearance", "subject.departments", "subject.region",
                "subject.pii", "subject.missing", "subject.username"]


def _events():
    rng = random.Random(7)
    rows = []
    for n in range(250):
        attrs = {name: rng.choice(options) for name, options in VALUES.items()}
        rows.append(StoredEvent(
            event_id=f"00000000-0000-4000-8000-{n:012d}", sequence=n + 1,
            occurred_at=NOW, recorded_at=NOW, trace_id=None, record="{}", hash="0" * 64, **attrs,
        ))
    return rows


literal = st.sampled_from(sorted({v for values in VALUES.values() for v in values} | {"", "acc-", "Patient"}))


@st.composite
def conditions(draw):
    attr = draw(st.sampled_from(list(VALUES)))
    op = draw(st.sampled_from(["eq", "in", "not_in", "prefix", "lte", "gte"]))
    if op in ("lte", "gte"):
        attr = "classification"
        value = draw(st.sampled_from([*CLASSIFICATIONS, "subject.clearance"]))
    elif op in ("in", "not_in"):
        value = draw(st.lists(st.sampled_from(VALUES[attr] + ["zzz"]), max_size=3) | st.sampled_from(SUBJECT_REFS))
    else:
        value = draw(st.sampled_from(VALUES[attr]) | literal | st.sampled_from(SUBJECT_REFS))
    return {"attr": attr, "op": op, "value": value}


@st.composite
def policies(draw):
    window = draw(st.sampled_from([None, "current", "expired", "future"]))
    times = {
        None: {},
        "current": {"valid_from": NOW - timedelta(days=1), "valid_until": NOW + timedelta(days=1)},
        "expired": {"valid_until": NOW - timedelta(seconds=1)},
        "future": {"valid_from": NOW + timedelta(seconds=1)},
    }[window]
    effect = draw(st.sampled_from(["allow", "allow", "deny"]))
    return PolicySpec(
        effect=effect,
        actions=draw(st.lists(st.sampled_from([*ACTIONS, "*"]), min_size=1, max_size=3)),
        conditions=draw(st.lists(conditions(), max_size=3)),
        # the temporary allow of a break-glass grant, gated by the break_glass action
        break_glass=effect == "allow" and draw(st.booleans()),
        **times,
    )


subjects = st.builds(
    Subject,
    username=st.sampled_from(["someone", "u-1", "svc-a"]),  # subject.username meets actor ids
    tenants=st.lists(st.sampled_from(VALUES["tenant"]), max_size=3).map(tuple),
    clearance=st.sampled_from(CLASSIFICATIONS),
    departments=st.lists(st.sampled_from(["risk", "Patient", "acc"]), max_size=2).map(tuple),
    pii=st.booleans(),
    extra=st.sampled_from([{}, {"region": "acme"}, {"region": ["acme", "globex"]}, {"region": 3}]),
    policies=st.lists(policies(), max_size=4).map(tuple),
)

_POSTGRES = ["postgres"] if "postgres" in django_settings.DATABASES else []


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param("default", marks=pytest.mark.django_db(databases=["default"])),
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.django_db(databases=_POSTGRES)]),
    ],
)
def test_sql_filter_agrees_with_the_decision(alias):
    if alias == "postgres":
        require_postgres()
    rows = StoredEvent.objects.using(alias).bulk_create(_events())
    attrs_by_id = {str(r.event_id): {name: getattr(r, name) for name in VALUES} for r in rows}

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(subjects, st.sampled_from(ACTIONS))
    def check(subject, action):
        selected = {
            str(i) for i in StoredEvent.objects.using(alias)
            .filter(q_filter(subject, action, now=NOW)).values_list("event_id", flat=True)
        }
        allowed = {i for i, attrs in attrs_by_id.items() if decide(subject, action, attrs, now=NOW)}
        assert selected == allowed

    check()


_ATTRS = [{name: getattr(row, name) for name in VALUES} for row in _events()]


_BY_TENANTS = PolicySpec(effect="allow", actions=["search"],
                         conditions=[{"attr": "tenant", "op": "in", "value": "subject.tenants"}])


@settings(max_examples=400, deadline=None)
@given(subjects, st.sampled_from(ACTIONS))
@example(Subject(username="s", tenants=("acme", "globex"), policies=(_BY_TENANTS,)), "search")
@example(Subject(username="s", policies=(PolicySpec(effect="allow", actions=["*"], conditions=[
    {"attr": "tenant", "op": "eq", "value": "acme"}, {"attr": "tenant", "op": "in", "value": ["acme", "Acme"]}]),)),
    "view_event")
def test_tenant_scope_holds_every_tenant_the_decision_allows(subject, action):
    # The scope narrows the search index's candidates before the filter: it may be wider
    # than what is allowed, never narrower.
    scope = tenant_scope(subject, action, now=NOW)
    allowed = {attrs["tenant"] for attrs in _ATTRS if decide(subject, action, attrs, now=NOW)}
    if scope is not None:
        assert allowed <= set(scope)


def test_tenant_scope_is_the_union_of_the_allows_and_none_when_one_is_open():
    def subject(*policies):
        return Subject(username="s", tenants=("acme", "globex"), policies=policies)

    by_tenant = PolicySpec(effect="allow", actions=["search"],
                           conditions=[{"attr": "tenant", "op": "in", "value": "subject.tenants"}])
    one = PolicySpec(effect="allow", actions=["search"], conditions=[{"attr": "tenant", "op": "eq", "value": "_x"}])
    any_tenant = PolicySpec(effect="allow", actions=["search"], conditions=[])
    deny = PolicySpec(effect="deny", actions=["*"], conditions=[{"attr": "tenant", "op": "eq", "value": "acme"}])
    assert tenant_scope(subject(by_tenant, one, deny), "search", now=NOW) == ["_x", "acme", "globex"]
    assert tenant_scope(subject(by_tenant, any_tenant), "search", now=NOW) is None
    assert tenant_scope(subject(by_tenant), "export_report", now=NOW) == []


@settings(max_examples=200, deadline=None)
@given(subjects, st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3))
def test_a_reader_remembering_decisions_decides_as_the_engine(subject, actions):
    # UserReader judges each combination of tested attributes once: the answers
    # must be the engine's for every event, whatever else differs between them.
    from types import SimpleNamespace

    from portal.access.readers import UserReader

    reader = UserReader(None, subject=subject, now=NOW)
    events = [SimpleNamespace(record={**{k: v for k, v in attrs.items() if not k.startswith("actor")},
                                      "actor": {"id": attrs["actor_id"], "type": attrs["actor_type"]}})
              for attrs in _ATTRS]
    for action in actions:
        for event, attrs in zip(events, _ATTRS):
            assert reader._decide(action, event) == decide(subject, action, attrs, now=NOW)


def _record(attrs: dict) -> dict:
    """A stored record's shape, as the DynamoDB store evaluates filters on it."""
    fields = {k: v for k, v in attrs.items() if not k.startswith("actor_")}
    return {**fields, "event_id": "e", "actor": {"id": attrs["actor_id"], "type": attrs["actor_type"]}}


@settings(max_examples=400, deadline=None)
@given(subjects, st.sampled_from(ACTIONS))
def test_the_dynamodb_store_evaluates_the_filter_as_the_decision_decides(subject, action):
    """DynamoDB has no form of the filter: its store evaluates the same Q on each record it reads."""
    from audit_events.store.dynamodb import record_filter

    where = q_filter(subject, action, now=NOW)
    holds, refuses = record_filter(where), record_filter(~where)  # callers ask for what is hidden too
    for attrs in _ATTRS:
        allowed = bool(decide(subject, action, attrs, now=NOW))
        assert holds(_record(attrs)) == allowed and refuses(_record(attrs)) != allowed, attrs
