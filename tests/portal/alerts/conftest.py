"""Alerts for the inbox tests: made directly (rules named ``test-…``), with evidence events
appended through the store (``events`` of tests/conftest.py: acme and globex)."""

from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth.models import Permission

from audit_events.models import Alert, AlertRule
from audit_events.store import get_event_store

START = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
IP = "203.0.113.9"


@pytest.fixture
def rule(db):
    return AlertRule.objects.create(
        name="test-password-changes", severity="high", description="Three password changes in five minutes.",
        spec={"kind": "threshold", "event_types": ["PasswordChanged"], "count": 3, "window_seconds": 300,
              "group_by": "aggregate"})


def evidence_of(stored) -> list[dict]:
    """Evidence items as the rules keep them, for stored events (``AppendResult``s)."""
    items = []
    for event in get_event_store().get_many([str(s.event_id) for s in stored]):
        record = event.record
        items.append({key: record[key] for key in ("event_id", "tenant", "aggregate_type", "aggregate_id",
                                                   "sequence", "event_type", "occurred_at")})
    return items


@pytest.fixture
def make_alert(rule):
    def make(*, tenant="acme", group_key="aggregate:acme/Account/acc-1", evidence=(), status="open", **fields):
        evidence = list(evidence)
        return Alert.objects.create(**{
            "rule": rule, "severity": rule.severity, "tenant": tenant, "group_key": group_key,
            "window_start": START, "window_end": START + timedelta(minutes=4), "evidence": evidence,
            "event_count": len(evidence), "summary": f"{len(evidence)} events of {group_key}", "status": status,
            **fields})

    return make


@pytest.fixture
def alerts(events, make_alert):
    """An acme alert with acme's events as evidence, a globex one, and an acme one keyed by an IP."""
    return {
        "acme": make_alert(evidence=evidence_of(events["acme"])),
        "globex": make_alert(tenant="globex", group_key="aggregate:globex/Account/g-1",
                             evidence=evidence_of(events["globex"])),
        "ip": make_alert(group_key=f"actor_ip:{IP}", summary=f"10 SignInFailed from {IP} in 1 min",
                         severity="critical"),
    }


@pytest.fixture
def may_change():
    """Give a user the permission to acknowledge and resolve alerts."""

    def grant(user):
        user.user_permissions.add(Permission.objects.get(content_type__app_label="audit_events",
                                                         codename="change_alert"))
        return user

    return grant


