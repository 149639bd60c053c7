"""Versioned payload schemas on ingest, and upcasting on read (never on the stored event)."""

import json

import pytest
from pydantic import BaseModel

from audit_events.hashing import record_hash
from audit_events.schemas import clear_registry, register_schema, register_upcaster, upcast_record
from audit_events.store import get_event_store
from tests.conftest import ApiClient, event_dict


class UserUpdatedV1(BaseModel):
    name: str


class UserUpdatedV2(BaseModel):
    full_name: str


@pytest.fixture(autouse=True)
def registry():
    register_schema("UserUpdated", 1, UserUpdatedV1)
    register_schema("UserUpdated", 2, UserUpdatedV2)
    register_upcaster("UserUpdated", 1, lambda p: {"full_name": p["name"],
                                                   **{k: v for k, v in p.items() if k != "name"}})
    yield
    clear_registry()


def user_event(version, payload):
    return event_dict(aggregate_type="User", aggregate_id="u-1", event_type="UserUpdated",
                      schema_version=version, pii=[], payload=payload)


@pytest.mark.django_db
def test_registered_versions_are_validated_on_ingest(api):
    response = api.post("/api/v1/events", {"events": [user_event(1, {"name": "Ann"}), user_event(2, {"name": "x"})]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events[1].payload.full_name"
    assert api.post("/api/v1/events", user_event(2, {"full_name": "Ann Example"})).status_code == 201
    assert api.post("/api/v1/events", user_event(7, {"anything": 1})).status_code == 201  # unregistered: free


def test_upcasters_chain_and_copy():
    register_upcaster("UserUpdated", 2, lambda p: {**p, "v3": True})
    record = {"event_type": "UserUpdated", "schema_version": 1, "payload": {"name": "Ann", "age": 3}}
    lifted = upcast_record(record)
    assert lifted["payload"] == {"full_name": "Ann", "age": 3, "v3": True}
    assert lifted["schema_version"] == 3 and lifted["upcast_from"] == 1
    assert record["payload"] == {"name": "Ann", "age": 3}  # the original is untouched
    assert upcast_record({"event_type": "Other", "schema_version": 1, "payload": {}}) is not None


@pytest.mark.django_db
def test_replay_reads_upcast_while_the_stored_event_keeps_its_hash(api, client, make_person, token_for):
    api.post("/api/v1/events", user_event(1, {"name": "Ann"}))
    api.post("/api/v1/events", user_event(2, {"full_name": "Ann B."}))
    (first, _) = get_event_store().read_aggregate("acme", "User", "u-1")
    stored = json.loads(first.to_json())
    assert stored["payload"] == {"name": "Ann"} and record_hash(stored) == stored["hash"]
    reader = ApiClient(client, token_for(make_person("aud", tenants=["acme"])))
    state = reader.get("/api/v1/aggregates/acme/User/u-1/state", data={"sequence": 1}).json()
    assert state["state"] == {"full_name": "Ann"}
    assert reader.get("/api/v1/aggregates/acme/User/u-1/state").json()["state"] == {"full_name": "Ann B."}


@pytest.mark.django_db
def test_personal_data_moved_by_an_upcaster_stays_unsearchable(api, client, make_person, token_for):
    from audit_events.projector import catch_up

    api.post("/api/v1/events", event_dict(aggregate_type="User", aggregate_id="u-2", event_type="UserUpdated",
                                          schema_version=1, pii=["/name"], payload={"name": "Zelda Privatename"}))
    catch_up()
    reader = ApiClient(client, token_for(make_person("nopii", tenants=["acme"], pii=False)))
    assert reader.get("/api/v1/search", data={"q": "Privatename"}).json()["total"] == 0
