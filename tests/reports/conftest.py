"""People who may export reports, and a worker pass that generates queued reports."""

import pytest
from django.core.management import call_command

from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event
from tests.conftest import AUDITOR_POLICIES

SECRET = "Ann Secret-Name"

EXPORTER_POLICIES = [{**AUDITOR_POLICIES[0], "actions": AUDITOR_POLICIES[0]["actions"] + ["export_report"]}]


@pytest.fixture
def exporter(signed_in_staff):
    """A staff person of tenant acme who may read and export; signed in."""

    def make(username="officer", **attributes):
        attributes.setdefault("tenants", ["acme"])
        attributes.setdefault("policies", EXPORTER_POLICIES)
        return signed_in_staff(username, **attributes)

    return make


@pytest.fixture
def run_worker():
    def run():
        catch_up()
        call_command("run_report_worker", once=True, stdout=open("/dev/null", "w"))

    return run


@pytest.fixture
def history(db):
    store = get_event_store()
    store.append([
        event(tenant="acme", aggregate_id="acc-1", payload={"holder": {"name": SECRET}, "balance": 1}),
        event(tenant="acme", aggregate_id="acc-1", payload={"balance": 2}, pii=[]),
        event(tenant="acme", aggregate_id="acc-2", payload={"note": "=HYPERLINK(\"http://evil\")"}, pii=[]),
        event(tenant="globex", aggregate_id="g-1", payload={"holder": {"name": "Gus Hidden"}}),
    ])
    return store
