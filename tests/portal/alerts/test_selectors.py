"""The alert selectors and how an alert is shown: scope by policies, filters, masking."""

import pytest
from django.contrib.auth import get_user_model

from audit_events.models import Alert
from portal.access.readers import UserReader
from portal.alerts import AlertFilterError, AlertMask, alert_filters, alert_for, alerts_visible_to, counted_events

pytestmark = pytest.mark.django_db

EVERYTHING = [{"effect": "allow", "actions": ["*"], "conditions": []}]


def test_filters_name_the_field_at_fault():
    assert alert_filters({"status": "open", "rule": " test-x ", "tenant": ""}) == {
        "status": "open", "severity": None, "rule": "test-x", "tenant": None}
    with pytest.raises(AlertFilterError) as caught:
        alert_filters({"status": "closed", "severity": "urgent"})
    assert [e["field"] for e in caught.value.errors] == ["status", "severity"]
    assert str(caught.value).startswith("status: must be one of open, acknowledged, resolved")


def test_scope_follows_the_search_policies(make_person, alerts):
    acme = make_person("auditor", tenants=["acme"])
    assert set(alerts_visible_to(user=acme)) == {alerts["acme"], alerts["ip"]}
    assert alert_for(user=acme, alert_id=alerts["globex"].pk) is None
    everyone = make_person("admin-like", policies=EVERYTHING)
    assert set(alerts_visible_to(user=everyone)) == set(alerts.values())
    assert not alerts_visible_to(user=make_person("nobody", tenants=["acme"], policies=[])).exists()


def test_superusers_go_by_their_policies_as_on_the_search_page(alerts):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x-unused-Password-1")
    assert not alerts_visible_to(user=root).exists()


def test_a_key_naming_a_person_is_masked_whole_in_the_summary(make_person, make_alert):
    analyst = UserReader(make_person("analyst", tenants=["acme"], pii=False))
    alert = make_alert(group_key="actor:u-1", summary="12 exports by u-1 (not u-10) in 1 h")
    mask = AlertMask(analyst)
    assert mask.group_key(alert) == "actor:(masked)"
    assert mask.summary(alert) == "12 exports by (masked) (not u-10) in 1 h"
    aggregate = make_alert(group_key="aggregate:acme/User/u-1")
    assert mask.group_key(aggregate) == "aggregate:acme/User/u-1" and not mask.hides(aggregate)


def test_view_pii_must_cover_the_alerts_tenant(make_person, make_alert):
    only_acme = [{"effect": "allow", "actions": ["search"], "conditions": []},
                 {"effect": "allow", "actions": ["view_pii"],
                  "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}]
    mask = AlertMask(UserReader(make_person("reader", policies=only_acme)))
    assert not mask.hides(make_alert(group_key="actor_ip:192.0.2.1"))
    assert mask.hides(make_alert(tenant="globex", group_key="actor_ip:192.0.2.2"))


def test_old_alerts_count_at_least_their_evidence(make_alert):
    alert = make_alert(evidence=[{"event_id": "e1"}, {"event_id": "e2"}])
    Alert.objects.filter(pk=alert.pk).update(event_count=0)  # raised before event_count existed
    alert.refresh_from_db()
    assert counted_events(alert) == 2
