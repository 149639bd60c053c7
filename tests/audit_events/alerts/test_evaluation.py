"""Rules evaluated by the ``alerts`` projection on the real feed: thresholds by event time (a
window crossing a boundary, late events), redelivery, matches, the portal's own reads,
silence, resolved alerts, and both places the window state lives."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.core import mail
from django.core.management import call_command

from audit_events.alerts.evaluation import AlertProjection, check_silence
from audit_events.alerts.state import get_alert_state
from audit_events.aws_resources import make_table
from audit_events.models import Alert, AlertRule
from audit_events.projector import catch_up, rebuild
from audit_events.store import get_event_store
from portal.alerts import resolve_alert
from tests.audit_events.store.contracts import event

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 24, 10, 4, tzinfo=timezone.utc)  # a Tuesday
#: recent enough to be sent (older alerts are stored, not mailed), at hh:x4: a minute before a
#: five-minute boundary, as the tests across one need
_HOUR_AGO = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)
RECENT = _HOUR_AGO.replace(minute=_HOUR_AGO.minute // 5 * 5 + 4)


@pytest.fixture(autouse=True)
def only_test_rules():
    """The built-in rules would find things in these events too: each test names its own."""
    AlertRule.objects.filter(builtin=True).update(enabled=False)
    get_alert_state.cache_clear()
    yield
    get_alert_state.cache_clear()


@pytest.fixture(params=["sql", "dynamodb"])
def alert_state(request, settings, monkeypatch):
    """Window state on the embedded table, or on a DynamoDB table of its own (the test server)."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws_endpoint")
        table = f"alert-state-{uuid.uuid4().hex[:12]}"
        make_table("alert_state", table)
        settings.AUDIT_DYNAMODB_TABLES = {**settings.AUDIT_DYNAMODB_TABLES, "alert_state": table}
    settings.AUDIT_ALERT_STATE = request.param
    get_alert_state.cache_clear()
    return request.param


def rule(name, severity="high", **spec):
    return AlertRule.objects.create(name=f"test-{name}", severity=severity, spec=spec)


def password_rule():
    return rule("passwords", kind="threshold", event_types=["PasswordChanged"], count=3, window_seconds=300,
                group_by="aggregate")


def append(*moments, aggregate_id="u-1", event_type="PasswordChanged", tenant="acme", **extra):
    return get_event_store().append([
        event(tenant=tenant, aggregate_type="User", aggregate_id=aggregate_id, event_type=event_type,
              occurred_at=moment.isoformat(), pii=[], payload={"n": n}, **extra)
        for n, moment in enumerate(moments)])


def alerts(name):
    return list(Alert.objects.filter(rule__name=f"test-{name}").order_by("window_start"))


def test_a_threshold_across_a_five_minute_boundary_raises_one_alert_that_grows(
        alert_state, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_ALERT_EMAILS = ["soc@example.com"]
    password_rule()
    # 10:04:00, 10:05:30 and 10:07:00: three within five minutes, across 10:05
    with django_capture_on_commit_callbacks(execute=True):
        append(RECENT, RECENT + timedelta(seconds=90), RECENT + timedelta(seconds=180))
        append(RECENT + timedelta(seconds=30), aggregate_id="u-2")  # another key
        catch_up()
    (alert,) = alerts("passwords")
    assert (alert.tenant, alert.group_key, alert.window_start) == ("acme", "aggregate:acme/User/u-1", RECENT)
    assert alert.event_count == 3 and [e["sequence"] for e in alert.evidence] == [1, 2, 3]
    assert alert.summary == "3 PasswordChanged within 5 min (the rule allows fewer than 3)"
    with django_capture_on_commit_callbacks(execute=True):
        append(RECENT + timedelta(seconds=240))
        catch_up()
    (grown,) = alerts("passwords")
    assert grown.pk == alert.pk and grown.event_count == 4 and grown.window_end == RECENT + timedelta(seconds=240)
    (message,) = mail.outbox  # one alert, sent once
    assert message.subject.startswith("[HIGH] test-passwords:")


def test_a_late_event_completes_the_window_it_occurred_in(alert_state, settings):
    settings.AUDIT_ALERT_LATENESS_SECONDS = 3600
    password_rule()
    append(T0, T0 + timedelta(seconds=240), T0 + timedelta(minutes=50))
    catch_up()
    assert alerts("passwords") == []
    # a publisher's retry delivers 10:06 after 10:54: it counts with 10:04 and 10:08
    get_event_store().append([event(tenant="acme", aggregate_type="User", aggregate_id="u-1",
                                    event_type="PasswordChanged", occurred_at=(T0 + timedelta(minutes=2)).isoformat(),
                                    pii=[], payload={"late": True})])
    catch_up()
    (alert,) = alerts("passwords")
    assert alert.window_start == T0 and alert.event_count == 3
    assert [e["sequence"] for e in alert.evidence] == [1, 4, 2]  # in event time
    # later than the allowed lateness (an hour behind the newest): not counted
    get_event_store().append([event(tenant="acme", aggregate_type="User", aggregate_id="u-1",
                                    event_type="PasswordChanged", occurred_at=(T0 - timedelta(hours=2)).isoformat(),
                                    pii=[], payload={})])
    catch_up()
    assert [a.event_count for a in alerts("passwords")] == [3]


def test_redelivered_events_raise_nothing_twice(alert_state, django_capture_on_commit_callbacks, settings):
    settings.AUDIT_ALERT_EMAILS = ["soc@example.com"]
    password_rule()
    append(RECENT, RECENT + timedelta(seconds=10), RECENT + timedelta(seconds=20))
    events = get_event_store().read_all(limit=100)
    projection = AlertProjection()
    with django_capture_on_commit_callbacks(execute=True):
        projection.handle(events)
        projection.handle(events)  # the stream delivers the batch again
        projection.handle(list(reversed(events)))  # and again, out of order
    (alert,) = alerts("passwords")
    assert alert.event_count == 3 and len(alert.evidence) == 3 and len(mail.outbox) == 1


def test_alerts_found_in_history_are_stored_not_sent(alert_state, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_ALERT_EMAILS = ["soc@example.com"]
    password_rule()
    with django_capture_on_commit_callbacks(execute=True):
        append(T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))  # days ago: a first run, a rebuild
        catch_up()
    assert len(alerts("passwords")) == 1 and mail.outbox == []


def test_a_rebuild_replays_into_the_same_alerts_even_resolved_ones(alert_state, django_user_model):
    password_rule()
    append(T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    catch_up()
    (alert,) = alerts("passwords")
    resolve_alert(alert_id=alert.pk, user=django_user_model.objects.create_user("soc"), resolution="a drill")
    rebuild(AlertProjection())
    catch_up()
    assert [(a.pk, a.status) for a in alerts("passwords")] == [(alert.pk, "resolved")]


def test_new_activity_after_a_resolution_is_a_new_alert(alert_state, django_user_model):
    password_rule()
    now = datetime.now(timezone.utc) - timedelta(minutes=10)
    append(now, now + timedelta(seconds=10), now + timedelta(seconds=20))
    catch_up()
    (first,) = alerts("passwords")
    resolve_alert(alert_id=first.pk, user=django_user_model.objects.create_user("soc"), resolution="user reset it")
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    append(later, later + timedelta(seconds=1))
    catch_up()
    assert len(alerts("passwords")) == 1  # two new changes: fewer than three since the resolution
    append(later + timedelta(seconds=2))
    catch_up()
    resolved, new = alerts("passwords")
    assert resolved.pk == first.pk and new.status == "open" and new.event_count == 3


def test_a_match_outside_business_hours_groups_one_persons_reads(alert_state):
    rule("night-reads", kind="match", event_types=["*Viewed"], min_classification="restricted",
         outside_hours={"start": "08:00", "end": "18:00", "timezone": "Europe/Berlin"}, window_seconds=3600)
    night = datetime(2026, 11, 24, 1, 30, tzinfo=timezone.utc)  # 02:30 in Berlin
    append(night, night + timedelta(minutes=20), event_type="PatientRecordViewed", classification="restricted")
    append(night + timedelta(minutes=90), event_type="PatientRecordViewed", classification="restricted",
           aggregate_id="u-2")
    append(night, event_type="PatientRecordViewed", classification="confidential", aggregate_id="u-3")
    append(T0, event_type="PatientRecordViewed", classification="restricted", aggregate_id="u-4")  # 11:04 there
    catch_up()
    first, second = alerts("night-reads")
    assert first.group_key == "actor:acme/u-jsmith" and first.event_count == 2
    assert second.window_start == night + timedelta(minutes=90) and second.event_count == 1
    assert "outside business hours (08:00–18:00 Europe/Berlin)" in first.summary


def test_the_portals_own_reads_are_judged_by_the_record_read(api, make_person, token_for):
    rule("restricted-reads", severity="medium", kind="match", event_types=["EventViewed"],
         min_classification="restricted")
    AlertRule.objects.filter(name="test-restricted-reads").update(tenant="acme")
    (stored,) = append(T0, classification="restricted")
    (internal,) = append(T0, classification="internal", aggregate_id="u-2")
    reader = make_person("ann", tenants=["acme"])
    token = token_for(reader)
    assert api.get(f"/api/v1/events/{stored.event_id}", token=token).status_code == 200
    assert api.get(f"/api/v1/events/{internal.event_id}", token=token).status_code == 200
    catch_up()
    (alert,) = alerts("restricted-reads")
    (evidence,) = alert.evidence
    assert alert.tenant == "_portal" and evidence["event_type"] == "EventViewed"
    assert alert.group_key.startswith("actor:_portal/")


def test_a_rule_for_one_tenant_and_a_disabled_rule_stay_quiet():
    scoped = password_rule()
    scoped.tenant = "globex"
    scoped.save()
    rule("off", kind="match", event_types=["PasswordChanged"]).__class__.objects.filter(
        name="test-off").update(enabled=False)
    append(T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    catch_up()
    assert alerts("passwords") == [] and alerts("off") == []


def test_a_tenant_that_goes_quiet_raises_once_per_quiet_spell(alert_state):
    rule("quiet", severity="medium", kind="silence", quiet_seconds=3600)
    append(T0, T0 + timedelta(minutes=5), event_type="AccountUpdated")
    append(T0 + timedelta(minutes=1), event_type="AccountUpdated", tenant="globex")
    catch_up()
    assert check_silence(now=T0 + timedelta(minutes=30)) == 0
    assert check_silence(now=T0 + timedelta(hours=2)) == 2
    assert check_silence(now=T0 + timedelta(hours=3)) == 0  # still the same spell
    acme = Alert.objects.get(rule__name="test-quiet", tenant="acme")
    assert acme.group_key == "tenant:acme" and acme.window_start == T0 + timedelta(minutes=5)
    assert acme.summary == "no events for 1 h 55 min (the limit is 1 h)" and acme.evidence[0]["sequence"] == 2
    append(T0 + timedelta(hours=4), event_type="AccountUpdated")  # the publisher is back
    catch_up()
    assert check_silence(now=T0 + timedelta(hours=4, minutes=30)) == 0
    assert check_silence(now=T0 + timedelta(hours=6)) == 1  # and quiet again: a new spell


def test_run_projector_once_checks_silence_too(capsys):
    rule("quiet", severity="medium", kind="silence", quiet_seconds=3600)
    append(T0, event_type="AccountUpdated")  # days ago
    call_command("run_projector", "--once")
    assert "silence rules: 1 alert(s) raised" in capsys.readouterr().out
    assert Alert.objects.filter(rule__name="test-quiet", group_key="tenant:acme").count() == 1


def test_an_alert_lost_after_its_window_was_saved_is_raised_at_the_next_delivery(alert_state, monkeypatch):
    from audit_events.alerts import evaluation

    password_rule()
    append(RECENT, RECENT + timedelta(seconds=10), RECENT + timedelta(seconds=20))
    events = get_event_store().read_all(limit=100)

    def database_gone(**kwargs):
        raise RuntimeError("the database went away")

    real = evaluation.raise_alert
    monkeypatch.setattr(evaluation, "raise_alert", database_gone)
    with pytest.raises(RuntimeError):
        AlertProjection().handle(events)  # the state is saved; the alert is not
    assert alerts("passwords") == []
    monkeypatch.setattr(evaluation, "raise_alert", real)
    AlertProjection().handle(events)  # redelivered: every event is in the state already
    (alert,) = alerts("passwords")
    assert alert.event_count == 3 and alert.window_start == RECENT


def test_a_lost_race_raises_nothing_from_the_stale_state(alert_state, monkeypatch):
    rule("ip-burst", kind="threshold", event_types=["SignInFailed"], count=3, window_seconds=60, group_by="actor_ip")
    store = get_event_store()
    first = store.append([event(aggregate_id=f"u-{n}", event_type="SignInFailed", pii=[], payload={},
                                occurred_at=(RECENT + timedelta(seconds=s)).isoformat()) for n, s in enumerate((0, 5))])
    later = store.append([event(aggregate_id=f"v-{n}", event_type="SignInFailed", pii=[], payload={},
                                occurred_at=(RECENT + timedelta(seconds=s)).isoformat())
                          for n, s in enumerate((10, 20, 30))])
    by_id = {e.record["event_id"]: e for e in store.read_all(limit=100)}
    state = get_alert_state()
    real_save, raced = state.save, []

    def save_after_the_other_invocation(*args, **kwargs):
        if not raced:  # another invocation, with the first two, saves between this one's load and save
            raced.append(True)
            AlertProjection().handle([by_id[str(r.event_id)] for r in first])
        return real_save(*args, **kwargs)

    monkeypatch.setattr(state, "save", save_after_the_other_invocation)
    AlertProjection().handle([by_id[str(r.event_id)] for r in later])
    (alert,) = alerts("ip-burst")  # one alert, from the merged state: not one from each view
    assert alert.window_start == RECENT and alert.event_count == 5
