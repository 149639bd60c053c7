"""Alert rules are typed: a spec is validated (pydantic) on save, naming the field and the problem."""

import pytest
from django.core.exceptions import ValidationError
from pydantic import ValidationError as SpecError

from audit_events.alerts.rules import MatchRule, SilenceRule, ThresholdRule, parse_rule_spec
from audit_events.models import AlertRule

THRESHOLD = {"kind": "threshold", "event_types": ["PasswordChanged"], "count": 3, "window_seconds": 300,
             "group_by": "aggregate"}


def test_each_kind_parses():
    assert isinstance(parse_rule_spec(THRESHOLD), ThresholdRule)
    night = parse_rule_spec({"kind": "match", "event_types": ["EventViewed"], "min_classification": "restricted",
                             "outside_hours": {"start": "08:00", "end": "18:00", "timezone": "Europe/Berlin"}})
    assert isinstance(night, MatchRule) and night.outside_hours.weekdays_only is True
    assert isinstance(parse_rule_spec({"kind": "silence", "quiet_seconds": 3600}), SilenceRule)


@pytest.mark.parametrize("spec, problem", [
    ({**THRESHOLD, "count": 1}, "count"),
    ({**THRESHOLD, "window_seconds": 0}, "window_seconds"),
    ({**THRESHOLD, "group_by": "moon"}, "group_by"),
    ({**THRESHOLD, "event_types": []}, "event_types"),
    ({**THRESHOLD, "surprise": True}, "surprise"),
    ({"kind": "match", "event_types": ["X"], "outside_hours": {"start": "18:00", "end": "08:00"}}, "end must be after start"),
    ({"kind": "match", "event_types": ["X"], "outside_hours": {"start": "08:00", "end": "18:00", "timezone": "Mars/Base"}},
     "not a known time zone"),
    ({"kind": "silence", "quiet_seconds": 5}, "quiet_seconds"),
    ({"kind": "sometimes"}, "kind"),
])
def test_a_bad_spec_names_its_field(spec, problem):
    with pytest.raises(SpecError, match=problem):
        parse_rule_spec(spec)


@pytest.mark.django_db
def test_the_model_refuses_a_bad_spec_and_normalises_a_good_one():
    rule = AlertRule(name="too-eager", spec={**THRESHOLD, "count": 1})
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert caught.value.message_dict["spec"] == ["threshold.count: Input should be greater than or equal to 2"]
    rule.spec = {"kind": "match", "event_types": ["BreakGlassActivated"]}
    rule.full_clean()
    assert rule.spec == {"kind": "match", "event_types": ["BreakGlassActivated"], "min_classification": None,
                         "outside_hours": None, "group_by": "actor", "window_seconds": 3600}


@pytest.mark.django_db
def test_admins_edit_rules_in_the_admin_and_bad_json_is_named(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x-unused-Password-1"))
    url = "/admin/audit_events/alertrule/add/"
    bad = client.post(url, {"name": "r1", "spec": '{"kind": "threshold", "event_types": ["X"], "count": 0}',
                            "severity": "high", "enabled": "on"})
    assert bad.status_code == 200
    page = bad.content.decode()
    assert "threshold.count" in page and "threshold.window_seconds" in page and not AlertRule.objects.filter(name="r1")
    good = client.post(url, {"name": "r1", "spec": '{"kind": "silence", "quiet_seconds": 86400}', "severity": "high",
                             "enabled": "on"})
    assert good.status_code == 302 and AlertRule.objects.get(name="r1").parsed == SilenceRule(kind="silence", quiet_seconds=86400)


def test_business_hours_hold_in_their_time_zone_and_on_weekdays():
    from datetime import datetime, timezone

    hours = parse_rule_spec({"kind": "match", "event_types": ["*Viewed"], "outside_hours": {
        "start": "08:00", "end": "18:00", "timezone": "Europe/Berlin"}}).outside_hours
    assert hours.holds(datetime(2026, 11, 26, 7, 30, tzinfo=timezone.utc))  # Thursday 08:30 in Berlin
    assert not hours.holds(datetime(2026, 11, 26, 6, 30, tzinfo=timezone.utc))  # 07:30 in Berlin
    assert not hours.holds(datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc))  # 18:00 there: closed
    assert not hours.holds(datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc))  # a Saturday


def test_a_match_rule_matches_types_by_wildcard_and_a_minimum_classification():
    rule = parse_rule_spec({"kind": "match", "event_types": ["*Viewed", "StateReplayed"],
                            "min_classification": "confidential"})
    from datetime import datetime, timezone

    noon = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
    assert rule.matches("PatientRecordViewed", "restricted", noon)
    assert rule.matches("StateReplayed", "confidential", noon)
    assert not rule.matches("PatientRecordViewed", "internal", noon)
    assert not rule.matches("PatientRecordUpdated", "restricted", noon)


@pytest.mark.django_db
def test_the_built_in_rules_ship_enabled_for_every_tenant_and_validate():
    builtin = AlertRule.objects.filter(builtin=True)
    assert {type(rule.parsed).__name__ for rule in builtin} == {"ThresholdRule", "MatchRule", "SilenceRule"}
    assert builtin.count() == 6 and all(rule.enabled and rule.tenant == "" for rule in builtin)
