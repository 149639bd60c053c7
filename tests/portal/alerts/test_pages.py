"""The inbox and an alert's page: the trio (signed out, in scope, out of scope), filters,
masking, and acknowledging and resolving through the page."""

import pytest
from django.test import Client
from django.urls import reverse

from audit_events.models import Alert

from tests.conftest import audit_of

from .conftest import IP

pytestmark = pytest.mark.django_db


def inbox(**params):
    return reverse("admin:audit_alerts") + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def alert_url(alert):
    return reverse("admin:audit_alert", args=[alert.pk])


def listed(response) -> set[int]:
    return {row["alert"].pk for row in response.context["rows"]}


@pytest.mark.parametrize("name, args", [("audit_alerts", []), ("audit_alert", [1])])
def test_signed_out_people_are_sent_to_sign_in(client, name, args):
    response = client.get(reverse(f"admin:{name}", args=args))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_signed_out_people_change_nothing(client, alerts):
    response = client.post(alert_url(alerts["acme"]), {"action": "acknowledge"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "open"


def test_the_inbox_lists_open_alerts_of_the_readers_tenants_newest_first(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    alerts["acme"].status = "resolved"
    alerts["acme"].save()
    response = client.get(inbox())
    assert response.status_code == 200
    assert listed(response) == {alerts["ip"].pk}  # open by default; globex is not theirs
    (listing,) = [r for r in audit_of("auditor") if r["event_type"] == "AlertsListed"]
    assert listing["payload"]["details"]["filters"] == {"status": "open"}
    every = client.get(inbox(status=""))
    assert [row["alert"].pk for row in every.context["rows"]] == [alerts["ip"].pk, alerts["acme"].pk]
    page = every.content.decode()
    assert "test-password-changes" in page and "globex" not in page
    filters = {f["name"]: [c["label"] for c in f["choices"]] for f in every.context["filters"]}
    assert filters["tenant"] == ["All", "acme"]  # only tenants in scope
    assert filters["rule"] == ["All", "test-password-changes"]
    assert filters["status"] == ["All", "open", "acknowledged", "resolved"]


def test_the_inbox_filters_by_status_severity_rule_and_tenant(client, signed_in_staff, alerts, make_alert):
    signed_in_staff("auditor", tenants=["acme", "globex"])
    assert listed(client.get(inbox(severity="critical"))) == {alerts["ip"].pk}
    assert listed(client.get(inbox(tenant="globex"))) == {alerts["globex"].pk}
    assert listed(client.get(inbox(rule="test-password-changes", status=""))) == {a.pk for a in alerts.values()}
    assert listed(client.get(inbox(rule="test-no-such-rule"))) == set()
    assert listed(client.get(inbox(status="acknowledged"))) == set()


def test_a_bad_filter_value_is_named_and_lists_nothing(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    response = client.get(inbox(status="closed"))
    assert response.status_code == 200 and listed(response) == set()
    assert response.context["errors"] == [{"field": "status", "message": "must be one of open, acknowledged, resolved"}]
    assert "status: must be one of open, acknowledged, resolved" in response.content.decode()


def test_the_inbox_is_paginated(client, signed_in_staff, make_alert, monkeypatch):
    from portal.views import alerts as views

    monkeypatch.setattr(views, "ALERTS_PAGE", 2)
    made = [make_alert(group_key=f"aggregate:acme/Account/acc-{n}") for n in range(5)]
    signed_in_staff("auditor", tenants=["acme"])
    first = client.get(inbox())
    assert [r["alert"].pk for r in first.context["rows"]] == [made[4].pk, made[3].pk]
    third = client.get(first.context["page_urls"]["next"].replace("page=2", "page=3"))
    assert [r["alert"].pk for r in third.context["rows"]] == [made[0].pk]
    assert third.context["page_urls"]["next"] is None


def test_the_tenant_switcher_narrows_the_inbox(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme", "globex"])
    client.post(reverse("admin:audit_switch_tenant"), {"tenant": "globex", "next": "/admin/"})
    response = client.get(inbox())
    assert response.status_code == 302 and "tenant=globex" in response["Location"]
    assert listed(client.get(response["Location"])) == {alerts["globex"].pk}


def test_the_alert_page_shows_rule_key_history_and_evidence_links(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    alert = alerts["acme"]
    response = client.get(alert_url(alert))
    assert response.status_code == 200
    page = response.content.decode()
    assert "test-password-changes" in page and "threshold" in page and "Three password changes" in page
    assert "aggregate:acme/Account/acc-1" in page
    for item in alert.evidence:
        assert reverse("admin:audit_event", args=[item["event_id"]]) in page
    timeline = reverse("admin:audit_timeline", args=["acme", "Account", "acc-1"])
    assert f'href="{timeline}?after=0#seq-2"' in page
    assert 'id="alert-actions"' not in page  # no change_alert: no buttons
    assert audit_of("auditor")[-1]["event_type"] == "AlertViewed"
    assert audit_of("auditor")[-1]["payload"]["target"]["alert_id"] == alert.pk


def test_the_alert_page_leaves_out_evidence_outside_the_readers_clearance(client, signed_in_staff, alerts):
    signed_in_staff("clerk", tenants=["acme"], clearance="confidential")
    first, restricted = alerts["acme"].evidence
    page = client.get(alert_url(alerts["acme"])).content.decode()
    assert reverse("admin:audit_event", args=[first["event_id"]]) in page
    assert restricted["event_id"] not in page and "1 evidence event outside your access is left out." in page


def test_an_alert_outside_scope_reads_like_a_missing_one(client, signed_in_staff, alerts, may_change):
    may_change(signed_in_staff("auditor", tenants=["acme"]))
    for url in (alert_url(alerts["globex"]), reverse("admin:audit_alert", args=[999999]),
                reverse("admin:audit_alert", args=[2**64])):
        assert client.get(url).status_code == 404
        assert client.post(url, {"action": "acknowledge"}).status_code == 404
    assert Alert.objects.get(pk=alerts["globex"].pk).status == "open"
    refused = [r for r in audit_of("auditor") if r["event_type"] == "ReadRefused"]
    # each id twice: the read, then the refused change
    assert [r["payload"]["target"]["alert_id"] for r in refused] == [
        alerts["globex"].pk, alerts["globex"].pk, 999999, 999999, str(2**64), str(2**64)]


def test_without_change_alert_posting_is_refused_and_changes_nothing(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    response = client.post(alert_url(alerts["acme"]), {"action": "acknowledge"})
    assert response.status_code == 403
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "open"
    assert not [r for r in audit_of("auditor") if r["event_type"].startswith("Alert")]


def test_acknowledge_then_resolve_through_the_page(client, signed_in_staff, alerts, may_change):
    may_change(signed_in_staff("triager", tenants=["acme"]))
    url = alert_url(alerts["acme"])
    assert 'id="acknowledge-form"' in client.get(url).content.decode()
    response = client.post(url, {"action": "acknowledge"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "Alert #%d acknowledged." % alerts["acme"].pk in response.content.decode()
    assert 'id="acknowledge-form"' not in response.content.decode()

    # A missing resolution is said, and nothing changes.
    response = client.post(url, {"action": "resolve", "resolution": "  "}, follow=True)
    assert "Resolution: say how the alert was resolved" in response.content.decode()  # the admin capitalizes
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "acknowledged"

    response = client.post(url, {"action": "resolve", "resolution": "a test run of the reset script"}, follow=True)
    alert = Alert.objects.get(pk=alerts["acme"].pk)
    assert (alert.status, alert.acknowledged_by.username, alert.resolved_by.username) == (
        "resolved", "triager", "triager")
    page = response.content.decode()
    assert "a test run of the reset script" in page and 'id="alert-actions"' not in page

    changes = [r for r in audit_of("triager") if r["event_type"] in ("AlertAcknowledged", "AlertResolved")]
    assert [r["event_type"] for r in changes] == ["AlertAcknowledged", "AlertResolved"]
    assert {r["tenant"] for r in changes} == {"_portal"}
    assert changes[1]["payload"]["details"]["resolution"] == "a test run of the reset script"


def test_a_state_that_does_not_allow_the_change_is_said_as_a_message(client, signed_in_staff, make_alert, may_change):
    may_change(signed_in_staff("triager", tenants=["acme"]))
    alert = make_alert(status="acknowledged")
    response = client.post(alert_url(alert), {"action": "acknowledge"}, follow=True)
    assert "only an open alert can be acknowledged" in response.content.decode()
    assert client.post(alert_url(alert), {"action": "delete"}).status_code == 400


def test_state_changes_need_the_csrf_token(signed_in_staff, alerts, may_change, client):
    user = may_change(signed_in_staff("triager", tenants=["acme"]))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    url = alert_url(alerts["acme"])
    assert browser.post(url, {"action": "acknowledge"}).status_code == 403
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "open"
    token = browser.get(url).context["csrf_token"]
    assert browser.post(url, {"action": "acknowledge", "csrfmiddlewaretoken": str(token)}).status_code == 302
    assert Alert.objects.get(pk=alerts["acme"].pk).status == "acknowledged"


def test_ip_keys_are_masked_for_a_reader_without_personal_data(client, signed_in_staff, alerts):
    signed_in_staff("analyst", tenants=["acme"], pii=False)
    for response in (client.get(inbox()), client.get(alert_url(alerts["ip"]))):
        page = response.content.decode()
        assert IP not in page
        assert "actor_ip:</code><span class=\"portal-masked\"" in page
    assert "10 SignInFailed from (masked) in 1 min" in client.get(alert_url(alerts["ip"])).content.decode()


def test_ip_keys_are_shown_to_a_reader_with_personal_data(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    assert f"actor_ip:{IP}" in client.get(alert_url(alerts["ip"])).content.decode()


def test_the_sidebar_and_the_dashboard_count_open_alerts_in_scope(client, signed_in_staff, alerts):
    signed_in_staff("auditor", tenants=["acme"])
    response = client.get(reverse("admin:index"))
    page = response.content.decode()
    assert response.context["dashboard"]["open_alerts"] == {
        "total": 2, "by_severity": [{"severity": "critical", "count": 1}, {"severity": "high", "count": 1}]}
    assert "Alerts (2 open)" in page and reverse("admin:audit_alerts") in page
    assert 'id="open-alerts"' in page


def test_a_refused_change_is_recorded_like_a_refused_read(client, signed_in_staff, alerts, may_change):
    may_change(signed_in_staff("auditor", tenants=["acme"]))
    assert client.post(alert_url(alerts["globex"]), {"action": "acknowledge"}).status_code == 404
    (refused,) = [r for r in audit_of("auditor") if r["event_type"] == "ReadRefused"]
    assert refused["payload"]["target"] == {"alert_id": alerts["globex"].pk}
    assert refused["payload"]["details"]["action"] == "change_alert"


def test_a_personal_key_is_personal_data_in_the_audit_of_a_change(client, signed_in_staff, alerts, may_change):
    may_change(signed_in_staff("auditor", tenants=["acme"]))
    client.post(alert_url(alerts["ip"]), {"action": "resolve", "resolution": "blocked at the firewall"})
    (resolved,) = [r for r in audit_of("auditor") if r["event_type"] == "AlertResolved"]
    assert resolved["pii"] == ["/target/key", "/details/resolution"]
