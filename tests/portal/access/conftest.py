"""Fixtures for access tests: people with roles, and events to read."""

import pytest
from django.contrib.auth import get_user_model

from audit_events.store import get_event_store
from portal.access.models import Policy, Role, SubjectAttributes
from portal.access.services import user_token_create
from tests.audit_events.store.contracts import event

AUDITOR_POLICIES = [
    {
        "effect": "allow",
        "actions": ["search", "view_event", "view_timeline", "replay_state", "view_pii"],
        "conditions": [
            {"attr": "tenant", "op": "in", "value": "subject.tenants"},
            {"attr": "classification", "op": "lte", "value": "subject.clearance"},
        ],
    }
]


@pytest.fixture
def make_person(db):
    """Create a user with attributes and a role holding ``policies``."""

    def make(username, *, tenants=(), clearance="restricted", pii=True, policies=AUDITOR_POLICIES, **extra):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", "x-unused-Password-1")
        SubjectAttributes.objects.create(user=user, tenants=list(tenants), clearance=clearance, pii=pii, **extra)
        role = Role.objects.create(name=f"role-of-{username}")
        for spec in policies:
            Policy.objects.create(role=role, **spec)
        role.members.add(user)
        return user

    return make


@pytest.fixture
def token_for(db):
    def issue(user):
        return user_token_create(user=user, name="test")[1]

    return issue


@pytest.fixture
def events(db):
    """Events in acme (with personal data) and globex, one restricted."""
    store = get_event_store()
    acme = store.append([
        event(tenant="acme", aggregate_id="acc-1", payload={"holder": {"name": "Ann Secret-Name"}, "n": 1}),
        event(tenant="acme", aggregate_id="acc-1", payload={"holder": {"name": "Ann Secret-Name"}, "n": 2},
              classification="restricted"),
    ])
    globex = store.append([event(tenant="globex", aggregate_id="g-1", payload={"holder": {"name": "Gus Hidden"}})])
    return {"acme": acme, "globex": globex}
