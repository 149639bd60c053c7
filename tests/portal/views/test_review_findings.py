"""What a review of the audit views found, each pinned by the test that would have caught it."""

from urllib.parse import unquote, urlsplit

import pytest
from django.urls import resolve, reverse

from audit_events.models import ChainVerification
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from audit_events.verification import VerificationReport, verify_events
from tests.audit_events.store.contracts import event

from .test_audit_views import access_events, timeline


def test_actor_ids_with_slashes_and_odd_characters_link_and_open(client, person, db):
    get_event_store().append([event(tenant="acme", aggregate_id="a-1", pii=[], payload={},
                                    actor={"id": "svc/batch+x=1~y", "type": "service"})])
    catch_up()
    person("auditor", tenants=["acme"])
    for url in (reverse("admin:index"), reverse("admin:audit_search"), timeline(aggregate_id="a-1")):
        assert client.get(url).status_code == 200, url
    actor_url = reverse("admin:audit_actor", args=["svc/batch+x=1~y"])
    response = client.get(actor_url)
    assert response.status_code == 200 and len(response.context["rows"]) == 1
    links_to = resolve(unquote(urlsplit(response.context["sort_url"]).path))
    assert links_to.kwargs == {"actor_id": "svc/batch+x=1~y"}


def test_verification_details_are_for_superusers_only(client, person, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="open", pii=[], payload={}, classification="internal")])
    ChainVerification.objects.create(tenant="acme", events=8, ok=False,
                                     breaks=["acme/Payroll/ceo-salary: first bad sequence 2"])
    catch_up()
    person("clerk", tenants=["acme"], clearance="internal")
    for url in (reverse("admin:index"), timeline(aggregate_id="open")):
        page = client.get(url).content.decode()
        assert "broken" in page and "ceo-salary" not in page and "8 events" not in page
    root = person("root", tenants=["acme"])
    root.is_superuser = True
    root.save()
    client.force_login(root)
    assert "ceo-salary" in client.get(timeline(aggregate_id="open")).content.decode()


def test_dashboard_tenants_and_lag_follow_policies_not_attributes(client, person, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="x", pii=[], payload={}, classification="internal")])
    store.append([event(tenant="globex", aggregate_id="y", pii=[], payload={}) for _ in range(3)])
    catch_up()
    store.append([event(tenant="globex", aggregate_id="late", pii=[], payload={})])  # not yet projected
    person("narrow", tenants=["acme", "globex"], clearance="internal", policies=[
        {"effect": "allow", "actions": ["search"], "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}])
    response = client.get(reverse("admin:index"))
    dashboard = response.context["dashboard"]
    assert [t["name"] for t in dashboard["tenants"]] == ["acme"]
    assert all(p["behind"] == 0 for p in dashboard["projections"])  # the late event is globex's
    assert "Position" not in response.content.decode()


def test_timeline_says_nothing_of_hidden_trailing_events(client, person, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="acc-9", pii=[], payload={"n": 1}, classification="internal")])
    store.append([event(tenant="acme", aggregate_id="acc-9", pii=[], payload={"n": n}, classification="restricted")
                  for n in range(2, 8)])
    person("clerk", tenants=["acme"], clearance="internal")
    response = client.get(timeline(aggregate_id="acc-9"))
    page = response.content.decode()
    assert response.context["last"] == 1
    assert 'max="1"' in page and "#7" not in page and "of 7" not in page
    assert response.context["state"].state == {"n": 1}


def test_a_timeline_without_replay_access_shows_events_but_no_state(client, person, indexed_events):
    person("lister", tenants=["acme"], policies=[
        {"effect": "allow", "actions": ["view_timeline", "view_event"], "conditions": []}])
    response = client.get(timeline())
    page = response.content.decode()
    assert response.status_code == 200 and response.context["state"] is None
    assert "chain broken" not in page and 'id="state-panel"' not in page
    refused = access_events("ReadRefused")
    assert refused[-1].record["payload"]["details"]["action"] == "replay_state"


@pytest.fixture
def indexed_events(events):
    catch_up()
    return events


@pytest.mark.parametrize("url_params, field", [
    ({"at": "0001-01-01T00:00:00+14:00"}, "at"), ({"at": "9999-12-31T23:59:59-14:00"}, "at"),
    ({"after": "9007199254740992"}, "after"), ({"sequence": "99999999999999999999"}, "sequence"),
    ({"sequence": "2", "at": "2026-01-01T00:00"}, "sequence"),
])
def test_extreme_timeline_inputs_are_named_not_500(client, person, indexed_events, url_params, field):
    person("auditor", tenants=["acme"])
    response = client.get(timeline(**url_params))
    assert response.status_code == 200
    assert field in [e["field"] for e in response.context["errors"]]


@pytest.mark.parametrize("params", [{"from": "0001-01-01T00:00:00+14:00"}, {"to": "9999-12-31T23:59:59-14:00"}])
def test_extreme_search_dates_are_named_not_500(client, person, indexed_events, params):
    person("auditor", tenants=["acme"])
    response = client.get(reverse("admin:audit_search"), params)
    assert response.status_code == 200 and response.context["errors"][0]["field"] in params
    assert client.get("/api/v1/search", params).status_code in (400, 401)


def test_api_refuses_sequences_beyond_safe_integers(client, person, indexed_events):
    person("auditor", tenants=["acme"])
    response = client.get("/api/v1/aggregates/acme/Account/acc-1/events", {"after": 2**53})
    assert response.status_code == 422
    response = client.get("/api/v1/aggregates/acme/Account/acc-1/state", {"at": "0001-01-01T00:00:00+14:00"})
    assert response.status_code == 400 and "at" in response.json()["detail"]


def test_a_masked_change_is_shown_as_a_masked_change(client, person, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="p-1", payload={"holder": {"name": "Ann"}}),
                  event(tenant="acme", aggregate_id="p-1", payload={"holder": {"name": "Bob"}})])
    person("analyst", tenants=["acme"], pii=False)
    entries = client.get(timeline(aggregate_id="p-1")).context["entries"]
    assert entries[1]["diff"] == [{"pointer": "/holder/name", "kind": "set (masked)", "old": None,
                                   "new": {"masked": True}}]


def test_a_full_last_page_has_no_later_page(client, person, db):
    get_event_store().append([event(tenant="acme", aggregate_id="hundred", pii=[], payload={"n": n})
                              for n in range(100)])
    person("auditor", tenants=["acme"])
    second = client.get(timeline(aggregate_id="hundred", after=50)).context
    assert second["next_url"] is None and second["page_to"] == 100


def test_who_viewed_finds_views_by_exact_record(client, person, make_person, indexed_events):
    viewer = person("auditor", tenants=["acme"])
    client.get(timeline())
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id=f"acc-1{n}", pii=[], payload={}) for n in range(30)])
    for n in range(30):
        client.get(timeline(aggregate_id=f"acc-1{n}"))
    catch_up()
    overseer = make_person("overseer", tenants=["acme", "_portal"])
    overseer.is_staff = True
    overseer.save()
    client.force_login(overseer)
    views = client.get(timeline()).context["who_viewed"]["views"]
    assert {v["actor_id"] for v in views} == {f"user:{viewer.username}"}


def test_verification_tolerates_an_append_between_heads_and_events(db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="live", pii=[], payload={})])
    stale = store.heads(tenant="acme")
    store.append([event(tenant="acme", aggregate_id="live", pii=[], payload={})])
    events = list(store.iter_events(tenant="acme"))
    assert not verify_events(events, stale).ok  # without a recheck: a false alarm

    def recheck(key):
        return store.heads(tenant=key[0], aggregate=key[1:]).get(key)

    assert verify_events(events, stale, recheck).ok


def test_a_tenant_that_vanished_is_recorded_broken(db):
    from audit_events.management.commands.verify_chain import record_verification

    ChainVerification.objects.create(tenant="gone", events=5, ok=True)
    record_verification(VerificationReport(tenant_events={"acme": 2}))
    newest = ChainVerification.objects.filter(tenant="gone").order_by("-verified_at", "-pk").first()
    assert newest.ok is False and newest.events == 0
