"""The alert-state adapters pass one contract: versioned saves, expiry, keys per rule, clearing."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit_events.alerts.state import StateConflictError
from audit_events.alerts.state.dynamodb import DynamoDBAlertState
from audit_events.alerts.state.sql import SQLAlertState
from audit_events.aws_resources import make_table
from audit_events.models import AlertRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules():
    return [AlertRule.objects.create(name=f"test-state-{n}", spec={"kind": "silence", "quiet_seconds": 60}).pk
            for n in range(2)]


class AlertStateContract:
    """Not collected itself; each adapter's class gives ``create_state``."""

    def create_state(self):
        raise NotImplementedError

    @pytest.fixture
    def state(self):
        return self.create_state()

    def test_a_key_starts_empty_and_keeps_what_is_saved(self, state, rules):
        assert state.load(rules[0], "actor:acme/u-1") == ({}, None)
        later = timezone.now() + timedelta(hours=1)
        state.save(rules[0], "actor:acme/u-1", {"events": [[1, "e1"]], "newest": 1}, version=None, expires_at=later)
        saved, version = state.load(rules[0], "actor:acme/u-1")
        assert saved == {"events": [[1, "e1"]], "newest": 1} and version is not None
        assert state.load(rules[1], "actor:acme/u-1") == ({}, None)  # per rule

    def test_a_save_over_a_stale_version_conflicts(self, state, rules):
        later = timezone.now() + timedelta(hours=1)
        state.save(rules[0], "k", {"n": 1}, version=None, expires_at=later)
        _, first = state.load(rules[0], "k")
        state.save(rules[0], "k", {"n": 2}, version=first, expires_at=later)
        with pytest.raises(StateConflictError):
            state.save(rules[0], "k", {"n": 3}, version=first, expires_at=later)  # another writer came first
        with pytest.raises(StateConflictError):
            state.save(rules[0], "k", {"n": 3}, version=None, expires_at=later)  # made already
        assert state.load(rules[0], "k")[0] == {"n": 2}

    def test_an_expired_state_reads_as_empty_and_is_left_out_of_keys(self, state, rules):
        state.save(rules[0], "old", {"n": 1}, version=None, expires_at=timezone.now() - timedelta(seconds=1))
        state.save(rules[0], "new", {"n": 2}, version=None, expires_at=timezone.now() + timedelta(hours=1))
        stale, version = state.load(rules[0], "old")
        assert stale == {}
        state.save(rules[0], "old", {"n": 3}, version=version, expires_at=timezone.now() + timedelta(hours=1))
        assert sorted((key, value) for key, value, _ in state.keys(rules[0])) == [("new", {"n": 2}), ("old", {"n": 3})]

    def test_keys_are_per_rule_and_clear_forgets_all(self, state, rules):
        later = timezone.now() + timedelta(hours=1)
        for rule in rules:
            for key in ("a", "b"):
                state.save(rule, key, {"rule": rule, "key": key}, version=None, expires_at=later)
        assert [key for key, _, _ in state.keys(rules[1])] == ["a", "b"]
        state.clear()
        assert list(state.keys(rules[0])) == [] and state.load(rules[1], "a") == ({}, None)


class TestSQLAlertState(AlertStateContract):
    def create_state(self):
        return SQLAlertState()

    def test_prune_drops_expired_rows(self, state, rules):
        state.save(rules[0], "old", {}, version=None, expires_at=timezone.now() - timedelta(seconds=1))
        state.save(rules[0], "new", {}, version=None, expires_at=timezone.now() + timedelta(hours=1))
        assert state.prune(timezone.now()) == 1


class TestDynamoDBAlertState(AlertStateContract):
    @pytest.fixture(autouse=True)
    def _endpoint(self, aws_endpoint):
        pass

    def create_state(self):
        name = f"alert-state-{uuid.uuid4().hex[:12]}"
        make_table("alert_state", name)  # from the template, with its TTL
        return DynamoDBAlertState(table=name)
