"""GET /api/v1/search: people only, their access pushed down, masked, audited."""

import json

import pytest

from audit_events.models import StoredEvent
from audit_events.projector import catch_up
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(events):
    catch_up()  # the search projection indexes what the store holds
    return events


def search(client, token, **params):
    return ApiClient(client, token).get("/api/v1/search", data=params)


def test_search_within_access_with_masking(client, make_person, token_for, indexed):
    reader = make_person("reader", tenants=["acme"], clearance="confidential", pii=False)
    response = search(client, token_for(reader), q="account")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1 and len(body["results"]) == 1  # globex and restricted are out of scope
    assert body["results"][0]["payload"]["holder"]["name"] == {"masked": True}
    assert b"Secret-Name" not in response.content
    assert [f["value"] for f in body["facets"]["tenant"]] == ["acme"]
    assert body["histogram"]["buckets"][0]["count"] == 1


def test_masked_values_cannot_be_found_by_searching(client, make_person, token_for, indexed):
    without = make_person("without", tenants=["acme"], pii=False)
    with_pii = make_person("with", tenants=["acme"], pii=True)
    assert search(client, token_for(without), q="Secret").json()["total"] == 0
    assert search(client, token_for(with_pii), q="Secret").json()["total"] == 2


def test_bad_parameters_are_400_with_the_field(client, make_person, token_for, indexed):
    reader = make_person("reader", tenants=["acme"])
    response = search(client, token_for(reader), limit="5000")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "limit"
    response = search(client, token_for(reader), ip="999.1.1.1")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "ip"


def test_publishers_and_strangers_cannot_search(client, api, indexed):
    assert api.get("/api/v1/search").status_code == 401  # a publisher key is not a person
    assert ApiClient(client, None).get("/api/v1/search").status_code == 401


def test_searches_are_audited_with_the_query_as_personal_data(client, make_person, token_for, indexed):
    reader = make_person("reader", tenants=["acme"])
    search(client, token_for(reader), q="Secret", tenant="acme")
    record = json.loads(StoredEvent.objects.filter(tenant="_portal", event_type="SearchPerformed").last().record)
    assert record["payload"]["details"]["query"]["q"] == "Secret"
    assert "/details/query" in record["pii"]


def test_cursor_pages_through_everything(client, make_person, token_for, indexed):
    reader = make_person("reader", tenants=["acme", "globex"])
    token = token_for(reader)
    first = search(client, token, limit=2).json()
    second = search(client, token, limit=2, cursor=first["next_cursor"]).json()
    ids = [e["event_id"] for e in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 3 and second["next_cursor"] is None


def test_search_is_in_the_openapi_document(client):
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/search"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"q", "tenant", "ip", "from", "to", "cursor", "limit", "sort"} <= names


def test_rebuild_search_index_command(client, make_person, token_for, events, capsys):
    from django.core.management import call_command

    from audit_events.models import ProjectionCheckpoint, SearchDocument

    call_command("rebuild_search_index")
    out, err = capsys.readouterr()
    assert "rebuilt the search index: 3 events" in out
    assert "events/s" in out and "ETA" in err
    assert SearchDocument.objects.count() == 3
    assert ProjectionCheckpoint.objects.get(name="search").position == SearchDocument.objects.order_by("-position").first().position
    reader = make_person("reader", tenants=["acme", "globex"])
    assert search(client, token_for(reader)).json()["total"] == 3


@pytest.mark.parametrize("payload", ['{"p": 1e400, "s": "newest"}', '{"p": -1, "s": "newest"}',
                                     '{"p": "7", "s": "newest"}', '{"p": 7, "s": "sideways"}'])
def test_hostile_cursors_are_400(client, make_person, token_for, indexed, payload):
    import base64

    cursor = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    response = search(client, token_for(make_person("r", tenants=["acme"])), cursor=cursor)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "cursor"
