"""The portal's audit views through Django's test client: access, masking, errors, audit.

Each view comes in the trio: signed out (to the sign-in page), in scope (200),
out of scope (404, exactly like an id that does not exist).
"""

import re

import pytest
from django.urls import reverse

from audit_events.models import ChainVerification
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event

SECRET = "Ann Secret-Name"

pytestmark = pytest.mark.both_stores  # the portal works unchanged on either event store


@pytest.fixture
def indexed(events):
    catch_up()
    return events


def timeline(tenant="acme", aggregate_type="Account", aggregate_id="acc-1", **params):
    url = reverse("admin:audit_timeline", args=[tenant, aggregate_type, aggregate_id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def event_url(result):
    return reverse("admin:audit_event", args=[result.event_id])


def access_events(kind):
    store = get_event_store()
    return [e for e in store.iter_events(tenant="_portal") if e.record["event_type"] == kind]


@pytest.mark.parametrize("name, args", [
    ("audit_search", []), ("audit_event", ["00000000-0000-0000-0000-000000000000"]),
    ("audit_timeline", ["acme", "Account", "acc-1"]), ("audit_actor", ["u-1"]), ("audit_trace", ["t-1"]),
])
def test_signed_out_people_are_sent_to_sign_in(client, db, name, args):
    response = client.get(reverse(f"admin:{name}", args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_portal_is_one_admin_site_with_the_audit_views():
    from django.contrib import admin

    from portal.admin_site import PortalAdminSite

    assert isinstance(admin.site, PortalAdminSite)
    assert reverse("admin:audit_search").startswith(reverse("admin:index"))


def test_search_shows_only_events_in_scope_with_filters_and_facets(client, person, indexed):
    person("auditor", tenants=["acme"])
    response = client.get(reverse("admin:audit_search"), {"q": "Secret"})
    assert response.status_code == 200
    page = response.content.decode()
    assert SECRET in page or "acc-1" in page
    assert "globex" not in page and "g-1" not in page
    assert 'id="changelist-filter"' in page and "By event type" in page
    assert "event_type=AccountUpdated" in page  # a facet link keeps the query and adds the filter
    rows = response.context["rows"]
    assert rows and {r["record"]["tenant"] for r in rows} == {"acme"}


def test_a_person_without_policies_sees_nothing(client, make_person, indexed):
    user = make_person("nobody", tenants=["acme"], policies=[])
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get(reverse("admin:audit_search")).context["rows"] == []
    assert client.get(event_url(indexed["acme"][0])).status_code == 404
    assert client.get(timeline()).status_code == 404


@pytest.mark.parametrize("params, field", [
    ({"from": "yesterday"}, "from"), ({"limit": "999"}, "limit"), ({"cursor": "not-a-cursor"}, "cursor"),
    ({"classification": "secret"}, "classification"), ({"from": "2026-11-20", "to": "2026-11-19"}, "to"),
])
def test_bad_search_parameters_are_named_on_the_page(client, person, indexed, params, field):
    person("auditor", tenants=["acme"])
    response = client.get(reverse("admin:audit_search"), params)
    assert response.status_code == 200
    assert [e["field"] for e in response.context["errors"]] == [field]
    assert f"{field}:" in response.content.decode()


def test_dates_and_offsetless_times_from_the_page_are_read_as_utc(client, person, indexed):
    person("auditor", tenants=["acme"])
    everything = client.get(reverse("admin:audit_search"), {"from": "2000-01-01"}).context["rows"]
    assert len(everything) == 2
    assert client.get(reverse("admin:audit_search"), {"from": "2099-01-01T10:00"}).context["rows"] == []


def test_cursor_pages_carry_the_search(client, person, events):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id=f"bulk-{n}") for n in range(7)])
    catch_up()
    person("auditor", tenants=["acme"])
    first = client.get(reverse("admin:audit_search"), {"limit": 4, "q": "Ann"})
    assert first.context["next_url"] and "q=Ann" in first.context["next_url"]
    second = client.get(first.context["next_url"])
    ids = [r["record"]["event_id"] for r in first.context["rows"] + second.context["rows"]]
    assert len(ids) == len(set(ids)) > 4


def test_event_page_shows_metadata_payload_hash_and_links(client, person, indexed):
    person("auditor", tenants=["acme"])
    stored = indexed["acme"][1]
    response = client.get(event_url(stored))
    page = response.content.decode()
    assert response.status_code == 200
    assert SECRET in page and "personal data" in page
    assert stored.hash in page and response.context["link"]["ok"] is True
    assert response.context["link"]["prev_hash"] == indexed["acme"][0].hash
    assert reverse("admin:audit_actor", args=[response.context["record"]["actor"]["id"]]) in page
    assert "Timeline at this event" in page


def test_event_out_of_scope_or_malformed_is_404_and_refusals_are_audited(client, person, indexed):
    person("auditor", tenants=["acme"])
    assert client.get(event_url(indexed["globex"][0])).status_code == 404
    assert client.get(reverse("admin:audit_event", args=["not-a-uuid"])).status_code == 404
    refused = access_events("ReadRefused")
    assert refused and refused[-1].record["payload"]["target"]["event_id"] == indexed["globex"][0].event_id
    assert refused[-1].record["payload"]["details"]["via"] == "portal"


def test_without_personal_data_access_values_are_masked_everywhere(client, person, indexed):
    person("analyst", tenants=["acme"], pii=False)
    for url in (event_url(indexed["acme"][0]), timeline(), timeline(sequence=1),
                reverse("admin:audit_search") + "?tenant=acme"):
        page = client.get(url).content.decode()
        assert SECRET not in page, url
    assert "portal-masked" in client.get(event_url(indexed["acme"][0])).content.decode()
    assert "portal-masked" in client.get(timeline()).content.decode()
    # and searching for the value finds nothing
    assert client.get(reverse("admin:audit_search"), {"q": "Secret"}).context["rows"] == []


def test_timeline_shows_each_change_and_the_state_at_a_chosen_event(client, person, events):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="acc-1", payload={"n": 3, "status": "closed"}, pii=[])])
    person("auditor", tenants=["acme"])
    response = client.get(timeline())
    assert response.status_code == 200
    entries = response.context["entries"]
    assert [e["sequence"] for e in entries] == [1, 2, 3]
    assert {"pointer": "/n", "kind": "changed", "old": 2, "new": 3} in entries[2]["diff"]
    assert {"pointer": "/status", "kind": "added", "old": None, "new": "closed"} in entries[2]["diff"]
    assert response.context["state"].state["n"] == 3 and response.context["state"].verified
    at_first = client.get(timeline(sequence=1)).context["state"]
    assert (at_first.sequence, at_first.state["n"]) == (1, 1)
    before_all = client.get(timeline(at="2000-01-01T00:00:00Z", time="recorded")).context["state"]
    assert before_all.sequence == 0 and before_all.state == {}


def test_timeline_pages_fold_from_the_state_before_the_page(client, person, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="long", payload={"n": n}, pii=[]) for n in range(1, 61)])
    person("auditor", tenants=["acme"])
    first = client.get(timeline(aggregate_id="long"))
    assert len(first.context["entries"]) == 50 and first.context["next_url"]
    second = client.get(first.context["next_url"])
    entries = second.context["entries"]
    assert [e["sequence"] for e in entries] == list(range(51, 61))
    assert entries[0]["diff"] == [{"pointer": "/n", "kind": "changed", "old": 50, "new": 51}]


@pytest.mark.parametrize("params, field", [({"after": "x"}, "after"), ({"at": "noon"}, "at"),
                                           ({"time": "later"}, "time"), ({"sequence": "-1"}, "sequence")])
def test_bad_timeline_parameters_are_named_and_the_page_still_answers(client, person, indexed, params, field):
    person("auditor", tenants=["acme"])
    response = client.get(timeline(**params))
    assert response.status_code == 200
    assert field in [e["field"] for e in response.context["errors"]]


def test_another_tenants_timeline_is_404_whatever_the_url_says(client, person, indexed):
    person("auditor", tenants=["acme"])
    assert client.get(timeline("globex", "Account", "g-1")).status_code == 404
    assert client.get(timeline("globex", "Account", "g-1", after=0, sequence=1)).status_code == 404
    assert client.get(timeline("acme", "Account", "does-not-exist")).status_code == 404


def test_who_viewed_is_shown_only_to_readers_of_the_access_audit(client, person, make_person, indexed):
    viewer = person("auditor", tenants=["acme"])
    client.get(timeline())
    assert client.get(timeline()).context["who_viewed"] is None
    catch_up()  # the access audit is indexed like any tenant
    overseer = make_person("overseer", tenants=["acme", "_portal"])
    overseer.is_staff = True
    overseer.save()
    client.force_login(overseer)
    views = client.get(timeline()).context["who_viewed"]["views"]
    assert f"user:{viewer.username}" in {v["actor_id"] for v in views}
    assert {v["record"]["event_type"] for v in views} >= {"TimelineViewed"}


def test_actor_and_trace_views_cross_aggregates_within_scope(client, person, indexed):
    person("auditor", tenants=["acme"])
    record = indexed["acme"][0]
    stored = get_event_store().get(record.event_id).record
    rows = client.get(reverse("admin:audit_actor", args=[stored["actor"]["id"]])).context["rows"]
    assert rows and {r["record"]["tenant"] for r in rows} == {"acme"}
    trace = client.get(reverse("admin:audit_trace", args=[stored["trace_id"]])).context["rows"]
    assert [r["record"]["sequence"] for r in trace] == sorted(r["record"]["sequence"] for r in trace)
    assert access_events("ActorActivityViewed") and access_events("TraceViewed")


def test_tenant_switcher_narrows_the_search_and_refuses_foreign_tenants(client, person, indexed):
    person("auditor", tenants=["acme", "globex"])
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="tenant-switcher"' in index
    answer = client.post(reverse("admin:audit_switch_tenant"), {"tenant": "acme", "next": "/admin/audit/search/"})
    assert answer["Location"] == "/admin/audit/search/"
    redirected = client.get(reverse("admin:audit_search"))
    assert redirected.status_code == 302 and "tenant=acme" in redirected["Location"]
    client.post(reverse("admin:audit_switch_tenant"), {"tenant": "initech", "next": "https://evil.example/"})
    assert client.get(reverse("admin:audit_search")).status_code == 200  # not switched: no redirect
    answer = client.post(reverse("admin:audit_switch_tenant"), {"tenant": "", "next": "https://evil.example/"})
    assert answer["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:audit_switch_tenant")).status_code == 405


def test_one_tenant_people_get_no_switcher(client, person, indexed):
    person("auditor", tenants=["acme"])
    assert 'id="tenant-switcher"' not in client.get(reverse("admin:index")).content.decode()


def test_dashboard_counts_within_scope_with_verification_and_lag(client, person, indexed):
    from django.core.management import call_command

    call_command("verify_chain", stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    assert ChainVerification.objects.filter(tenant="acme", ok=True).exists()
    person("auditor", tenants=["acme"])
    response = client.get(reverse("admin:index"))
    dashboard = response.context["dashboard"]
    assert dashboard["result"].total == 2
    assert [t["name"] for t in dashboard["tenants"]] == ["acme"]
    assert dashboard["tenants"][0]["verification"].ok
    page = response.content.decode()
    assert "Events per day" in page and "globex" not in page
    assert "Audit trail" in page and reverse("admin:audit_search") in page  # the app list entry


def test_dashboard_lag_counts_unprojected_events_of_ones_tenants_only(client, person, indexed):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="new-1"), event(tenant="globex", aggregate_id="new-2")])
    person("auditor", tenants=["acme"])
    dashboard = client.get(reverse("admin:index")).context["dashboard"]
    assert dashboard["tenants"][0]["lag"] == 1
    assert all(p["behind"] == 1 for p in dashboard["projections"])


def test_pages_use_only_local_static_files(client, person, indexed):
    person("auditor", tenants=["acme"])
    page = client.get(reverse("admin:audit_search")).content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "portal/portal.css" in page and "portal/portal.js" in page


def test_times_are_utc_with_a_machine_readable_instant(client, person, indexed):
    person("auditor", tenants=["acme"])
    page = client.get(event_url(indexed["acme"][0])).content.decode()
    assert re.search(r'<time datetime="[0-9T:.\-]+Z" title="[0-9 :\-]+ UTC" class="portal-time">', page)
