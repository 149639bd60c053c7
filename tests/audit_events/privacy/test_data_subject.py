"""An event may name whose personal data it holds (``data_subject``): stored and hashed only when
sent, so older records keep their hashes."""

import pytest

from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event
from tests.conftest import event_dict

pytestmark = pytest.mark.django_db


def test_a_data_subject_is_stored_only_when_sent(api):
    answer = api.post("/api/v1/events", {"events": [event_dict(aggregate_id="enc-1", data_subject="pat-00042"),
                                                    event_dict(aggregate_id="enc-2")]})
    assert answer.status_code == 201, answer.content
    first, second = (get_event_store().get(r["event_id"]).record for r in answer.json()["results"])
    assert first["data_subject"] == "pat-00042" and "data_subject" not in second


def test_a_bad_data_subject_is_refused_naming_it(api):
    answer = api.post("/api/v1/events", event_dict(data_subject="has space"))
    assert answer.status_code == 422
    assert any("data_subject" in e["field"] for e in answer.json()["errors"]), answer.json()


def test_a_chain_with_data_subjects_verifies(capsys):
    from django.core.management import call_command

    get_event_store().append([event(aggregate_id="enc-3", data_subject="pat-1", pii=[], payload={"n": n})
                              for n in range(3)])
    call_command("verify_chain")
    assert "verified 3 events" in capsys.readouterr().out
