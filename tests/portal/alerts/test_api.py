"""The alerts API: the trio for each endpoint (no credentials 401, in scope 200, out of scope
404; no change_alert 403), filters and paging, state changes and their audit events."""

import json

import pytest

from audit_events.models import Alert
from tests.conftest import ApiClient

from tests.conftest import audit_of

from .conftest import IP

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [alert["id"] for alert in response.json()["alerts"]]


def post(api, path, body=None):
    return api.post(path, body if body is not None else {})


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/alerts"), ("get", "/api/v1/alerts/1"),
    ("post", "/api/v1/alerts/1/acknowledge"), ("post", "/api/v1/alerts/1/resolve"),
])
def test_without_credentials_is_401(client, method, path, db):
    api = ApiClient(client, None)
    response = api.get(path) if method == "get" else api.post(path, {"resolution": "x"})
    assert response.status_code == 401


def test_a_publisher_key_is_no_person(api, alerts):
    assert api.get("/api/v1/alerts").status_code == 401


def test_the_list_has_the_readers_tenants_only_newest_first(make_person, as_user, alerts):
    api = as_user(make_person("auditor", tenants=["acme"]))
    response = api.get("/api/v1/alerts")
    assert response.status_code == 200
    assert ids(response) == [alerts["ip"].pk, alerts["acme"].pk] and response.json()["next"] is None
    body = response.json()["alerts"][1]
    assert body["rule"] == "test-password-changes" and body["tenant"] == "acme"
    assert body["group_key"] == "aggregate:acme/Account/acc-1" and body["event_count"] == 2
    assert [e["event_id"] for e in body["evidence"]] == [e["event_id"] for e in alerts["acme"].evidence]
    assert body["status"] == "open" and body["acknowledged_by"] is None and body["resolution"] == ""
    assert set(body) == {"id", "rule", "severity", "tenant", "group_key", "window_start", "window_end",
                         "event_count", "evidence", "evidence_withheld", "summary", "status", "raised_at",
                         "acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at", "resolution"}
    assert body["evidence_withheld"] == 0


def test_evidence_outside_the_readers_clearance_is_withheld(make_person, as_user, alerts):
    api = as_user(make_person("clerk", tenants=["acme"], clearance="confidential"))
    (body,) = [a for a in api.get("/api/v1/alerts").json()["alerts"] if a["id"] == alerts["acme"].pk]
    first, restricted = alerts["acme"].evidence  # the second is restricted: above a confidential clearance
    assert [e["event_id"] for e in body["evidence"]] == [first["event_id"]] and body["evidence_withheld"] == 1
    single = api.get(f"/api/v1/alerts/{alerts['acme'].pk}").json()
    assert [e["event_id"] for e in single["evidence"]] == [first["event_id"]] and single["evidence_withheld"] == 1


def test_the_list_filters(make_person, as_user, alerts):
    api = as_user(make_person("auditor", tenants=["acme", "globex"]))
    assert ids(api.get("/api/v1/alerts?tenant=globex")) == [alerts["globex"].pk]
    assert ids(api.get("/api/v1/alerts?severity=critical")) == [alerts["ip"].pk]
    assert ids(api.get("/api/v1/alerts?status=resolved")) == []
    assert len(ids(api.get("/api/v1/alerts?rule=test-password-changes&status=open"))) == 3
    assert ids(api.get("/api/v1/alerts?tenant=initech")) == []  # not theirs: nothing, as for no alerts


@pytest.mark.parametrize("query, field, message", [
    ("status=closed", "status", "must be one of open, acknowledged, resolved"),
    ("severity=urgent", "severity", "must be one of low, medium, high, critical"),
    ("limit=0", "limit", "must be a whole number from 1 to 200"),
    ("cursor=abc", "cursor", "must be a whole number from 1 to 9223372036854775807"),
])
def test_a_bad_parameter_is_400_naming_it(make_person, as_user, alerts, query, field, message):
    response = as_user(make_person("auditor", tenants=["acme"])).get(f"/api/v1/alerts?{query}")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "message": message}]


def test_cursor_pages_do_not_shift_when_alerts_are_raised(make_person, as_user, make_alert):
    made = [make_alert(group_key=f"aggregate:acme/Account/acc-{n}") for n in range(5)]
    api = as_user(make_person("auditor", tenants=["acme"]))
    first = api.get("/api/v1/alerts?limit=2").json()
    assert [a["id"] for a in first["alerts"]] == [made[4].pk, made[3].pk]
    make_alert(group_key="aggregate:acme/Account/acc-new")
    second = api.get(f"/api/v1/alerts?limit=2&cursor={first['next']}").json()
    assert [a["id"] for a in second["alerts"]] == [made[2].pk, made[1].pk]
    last = api.get(f"/api/v1/alerts?limit=2&cursor={second['next']}").json()
    assert [a["id"] for a in last["alerts"]] == [made[0].pk] and last["next"] is None


def test_one_alert_in_scope_and_its_read_is_audited(make_person, as_user, alerts):
    api = as_user(make_person("auditor", tenants=["acme"]))
    response = api.get(f"/api/v1/alerts/{alerts['acme'].pk}")
    assert response.status_code == 200 and response.json()["id"] == alerts["acme"].pk
    viewed = audit_of("auditor")[-1]
    assert viewed["event_type"] == "AlertViewed" and viewed["payload"]["target"]["alert_id"] == alerts["acme"].pk
    assert viewed["payload"]["details"]["via"] == "api"


def test_an_alert_outside_scope_is_404_like_a_missing_one(make_person, as_user, alerts, may_change):
    api = as_user(may_change(make_person("auditor", tenants=["acme"])))
    for alert_id in (alerts["globex"].pk, 999999, 2**64):
        missing = api.get(f"/api/v1/alerts/{alert_id}")
        assert missing.status_code == 404 and missing.json()["detail"] == "no alert you may see has this id"
        assert post(api, f"/api/v1/alerts/{alert_id}/acknowledge").status_code == 404
        assert post(api, f"/api/v1/alerts/{alert_id}/resolve", {"resolution": "x"}).status_code == 404
    assert Alert.objects.get(pk=alerts["globex"].pk).status == "open"


def test_without_change_alert_is_403_and_changes_nothing(make_person, as_user, alerts):
    api = as_user(make_person("auditor", tenants=["acme"]))
    for action, body in (("acknowledge", {}), ("resolve", {"resolution": "fine"})):
        response = post(api, f"/api/v1/alerts/{alerts['acme'].pk}/{action}", body)
        assert response.status_code == 403 and "audit_events.change_alert" in response.json()["detail"]
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "open"


def test_acknowledge_then_resolve_with_audit_events(make_person, as_user, alerts, may_change, client):
    api = as_user(may_change(make_person("triager", tenants=["acme"])))
    path = f"/api/v1/alerts/{alerts['acme'].pk}"
    # An empty body or {} both acknowledge.
    acknowledged = client.post(f"{path}/acknowledge", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert acknowledged.status_code == 200, acknowledged.content
    assert acknowledged.json()["status"] == "acknowledged" and acknowledged.json()["acknowledged_by"] == "triager"

    again = post(api, f"{path}/acknowledge")
    assert again.status_code == 409 and "only an open alert can be acknowledged" in again.json()["detail"]

    blank = post(api, f"{path}/resolve", {"resolution": " "})
    assert blank.status_code == 400 and blank.json()["errors"][0]["field"] == "resolution"
    assert post(api, f"{path}/resolve").status_code == 400  # no resolution at all

    resolved = post(api, f"{path}/resolve", {"resolution": "expected: a migration reset the passwords"})
    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["status"], body["resolved_by"], body["resolution"]) == (
        "resolved", "triager", "expected: a migration reset the passwords")
    assert post(api, f"{path}/resolve", {"resolution": "again"}).status_code == 409

    changes = [r for r in audit_of("triager") if r["event_type"] in ("AlertAcknowledged", "AlertResolved")]
    assert [r["event_type"] for r in changes] == ["AlertAcknowledged", "AlertResolved"]
    assert all(r["tenant"] == "_portal" and r["payload"]["target"]["alert_id"] == alerts["acme"].pk
               for r in changes)


def test_a_browser_session_needs_the_csrf_token_to_change_an_alert(make_person, alerts, may_change):
    from django.test import Client

    user = may_change(make_person("triager", tenants=["acme"]))
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    path = f"/api/v1/alerts/{alerts['acme'].pk}/acknowledge"
    assert browser.get(f"/api/v1/alerts/{alerts['acme'].pk}").status_code == 200  # reads need no token
    refused = browser.post(path, "{}", content_type="application/json")
    assert refused.status_code == 403, refused.content
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "open"
    browser.get(f"/admin/audit/alerts/{alerts['acme'].pk}/")  # its forms set the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(path, "{}", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200 and Alert.objects.get(pk=alerts["acme"].pk).status == "acknowledged"


def test_ip_keys_are_masked_without_personal_data(make_person, as_user, alerts):
    analyst = as_user(make_person("analyst", tenants=["acme"], pii=False))
    body = analyst.get(f"/api/v1/alerts/{alerts['ip'].pk}").json()
    assert body["group_key"] == "actor_ip:(masked)" and body["summary"] == "10 SignInFailed from (masked) in 1 min"
    assert IP not in json.dumps(analyst.get("/api/v1/alerts").json())
    auditor = as_user(make_person("auditor", tenants=["acme"]))
    assert auditor.get(f"/api/v1/alerts/{alerts['ip'].pk}").json()["group_key"] == f"actor_ip:{IP}"
