"""The ingest and read API: every status code, and nothing written on error."""

import json
import uuid

import pytest
from django.utils import timezone

from audit_events.hashing import record_hash
from audit_events.store import get_event_store
from audit_events.services import publisher_key_create
from tests.conftest import event_dict

pytestmark = [pytest.mark.django_db, pytest.mark.both_stores]

EVENTS = "/api/v1/events"


def stored_count() -> int:
    return len(get_event_store().read_all(limit=100_000))


def test_single_event_is_created(api):
    response = api.post(EVENTS, event_dict())
    assert response.status_code == 201
    (result,) = response.json()["results"]
    assert result["status"] == "created" and result["sequence"] == 1
    assert set(result) == {
        "event_id", "tenant", "aggregate_type", "aggregate_id", "sequence",
        "hash", "prev_hash", "recorded_at", "status",
    }


def test_batch_is_created_in_order(api):
    response = api.post(EVENTS, {"events": [event_dict(), event_dict(), event_dict(aggregate_id="b")]})
    assert response.status_code == 201
    assert [r["sequence"] for r in response.json()["results"]] == [1, 2, 1]


def test_all_duplicates_answer_200(api):
    event = event_dict(event_id=str(uuid.uuid4()))
    first = api.post(EVENTS, {"events": [event]})
    again = api.post(EVENTS, {"events": [event]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["results"][0]["status"] == "duplicate"
    assert again.json()["results"][0]["hash"] == first.json()["results"][0]["hash"]


def test_mixed_duplicate_and_new_answer_201(api):
    event = event_dict(event_id=str(uuid.uuid4()))
    api.post(EVENTS, event)
    response = api.post(EVENTS, {"events": [event, event_dict()]})
    assert response.status_code == 201
    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "created"]


@pytest.mark.parametrize(
    "body, status, field",
    [
        (b"{oops", 400, None),
        (b'{"events": [' + b"1" * 10 + b"]", 400, None),
        (event_dict(actor={"id": "u", "type": "robot"}), 422, "actor.type"),
        ({"events": [event_dict(), event_dict(occurred_at="2026-11-20")]}, 422, "events[1].occurred_at"),
        (event_dict(payload={"blob": "x" * 70_000}, pii=[]), 413, "payload"),
        ({"events": [event_dict()] * 501}, 413, None),
    ],
)
def test_bad_bodies_write_nothing(api, body, status, field):
    before = stored_count()
    response = api.post(EVENTS, body)
    assert response.status_code == status, response.content
    payload = response.json()
    assert payload["detail"]
    if field:
        assert field in [e["field"] for e in payload["errors"]]
    assert stored_count() == before


def test_request_body_over_the_limit_is_413(api, settings):
    settings.AUDIT_MAX_REQUEST_BYTES = 1000
    response = api.post(EVENTS, {"events": [event_dict()] * 5})
    assert response.status_code == 413
    assert "limit is 1000" in response.json()["detail"]
    assert stored_count() == 0


def test_surrogates_and_huge_numbers_are_client_errors_not_500(api):
    body = json.dumps(event_dict(payload={"x": "\ud800"}, pii=[])).encode()
    assert api.post(EVENTS, body).status_code == 422
    assert api.post(EVENTS, b'{"events": [{"payload": {"x": 1e400}}]}').status_code == 400
    assert stored_count() == 0


def test_bad_content_length_is_400(api):
    response = api.post(EVENTS, event_dict(), CONTENT_LENGTH="abc")
    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


@pytest.mark.parametrize("token", [None, "wrong", "ak_000000000000_nope"])
def test_missing_or_bad_key_is_401(api, token):
    response = api.post(EVENTS, event_dict(), token=token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert stored_count() == 0


def test_revoked_key_is_401(api, publisher):
    key, _ = publisher
    key.revoked_at = timezone.now()
    key.save()
    assert api.post(EVENTS, event_dict()).status_code == 401


@pytest.mark.parametrize("tenant", ["initech", "_portal"])
def test_tenant_outside_the_key_is_403_and_writes_nothing(api, tenant):
    response = api.post(EVENTS, {"events": [event_dict(), event_dict(tenant=tenant)]})
    assert response.status_code == 403
    assert "events[1]: publisher key" in response.json()["detail"]
    assert tenant in response.json()["detail"]
    assert stored_count() == 0


def test_reused_event_id_with_other_content_is_409(api):
    event_id = str(uuid.uuid4())
    api.post(EVENTS, event_dict(event_id=event_id))
    response = api.post(EVENTS, {"events": [event_dict(aggregate_id="z"), event_dict(event_id=event_id, event_type="Other")]})
    assert response.status_code == 409
    assert response.json()["event_id"] == event_id
    assert "events[1]" in response.json()["detail"]
    assert stored_count() == 1


def test_expected_sequence_mismatch_is_409(api):
    api.post(EVENTS, event_dict())
    response = api.post(EVENTS, event_dict(expected_sequence=0))
    assert response.status_code == 409
    assert "expected aggregate acme/Account/acc-1 at sequence 0, but it is at 1" in response.json()["detail"]
    assert stored_count() == 1


# -- reads ---------------------------------------------------------------------


def test_read_event_returns_the_record_exactly_as_hashed(api):
    result = api.post(EVENTS, event_dict()).json()["results"][0]
    response = api.get(f"{EVENTS}/{result['event_id']}")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["hash"] == result["hash"]
    assert record_hash(body) == result["hash"]  # anyone can recompute it
    assert body["payload"]["note"] == "Grüße ✓"


def test_read_event_of_another_tenant_is_404(api, client):
    _, other_secret = publisher_key_create(name="other", tenants=["initech"])
    other = api.__class__(client, other_secret)
    event_id = other.post(EVENTS, event_dict(tenant="initech")).json()["results"][0]["event_id"]
    assert api.get(f"{EVENTS}/{event_id}").status_code == 404
    assert api.get(f"{EVENTS}/{uuid.uuid4()}").status_code == 404
    assert api.get(f"{EVENTS}/{event_id}", token=None).status_code == 401


def test_read_aggregate_pages_through_events(api):
    api.post(EVENTS, {"events": [event_dict() for _ in range(5)]})
    path = "/api/v1/aggregates/acme/Account/acc-1/events"
    first = api.get(path, data={"limit": 2}).json()
    assert [e["sequence"] for e in first["events"]] == [1, 2] and first["next_after"] == 2
    rest = api.get(path, data={"after": 2, "limit": 10}).json()
    assert [e["sequence"] for e in rest["events"]] == [3, 4, 5] and rest["next_after"] is None
    for item in first["events"] + rest["events"]:
        assert record_hash(item) == item["hash"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/aggregates/initech/Account/acc-1/events",  # tenant outside the key
        "/api/v1/aggregates/acme/Account/missing/events",  # unknown aggregate
    ],
)
def test_read_aggregate_outside_scope_is_404(api, path):
    api.post(EVENTS, event_dict())
    assert api.get(path).status_code == 404


@pytest.mark.parametrize(
    "query, field",
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"after": -1}, "after"),
     ({"after": "x"}, "after"), ({"after": 10**30}, "after")],
)
def test_read_aggregate_bad_parameters_are_422(api, query, field):
    api.post(EVENTS, event_dict())
    response = api.get("/api/v1/aggregates/acme/Account/acc-1/events", data=query)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_openapi_document_and_docs(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/events" in schema["paths"]
    assert "/api/v1/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/events" in schema["paths"]
    assert "EventIn" in schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/events"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["oneOf"]
    assert client.get("/api/v1/docs").status_code == 200


def test_a_deployment_that_does_not_take_events_says_where_they_go(api, settings):
    settings.AUDIT_INGEST_ENABLED = False  # the AWS portal stage: the ingest stage takes events
    response = api.post(EVENTS, event_dict())
    assert response.status_code == 404 and "send them to the ingest API" in response.json()["detail"]
    assert stored_count() == 0


def test_a_busy_store_is_503_with_retry_after_and_nothing_written(api, monkeypatch):
    from audit_events.store import StoreBusyError

    store = get_event_store()

    def busy(events):  # what the DynamoDB store raises when writers keep winning the feed counter
        raise StoreBusyError("the event store stayed busy for 30 s; nothing of this transaction was written")

    with monkeypatch.context() as patched:
        patched.setattr(store, "append", busy)
        response = api.post(EVENTS, event_dict())
    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert "nothing of this transaction was written" in response.json()["detail"]
    assert stored_count() == 0


def test_an_event_too_large_to_store_is_413_naming_it(api):
    key = "k" * 5_000
    body = event_dict(payload={key: {f"f{i}": i for i in range(100)}}, pii=[f"/{key}/f{i}" for i in range(100)])
    response = api.post(EVENTS, body)
    assert response.status_code == 413 and "events[0]" in response.json()["detail"]
    assert stored_count() == 0
