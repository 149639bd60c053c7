"""Alerts: raised once per rule, key and window; sent by e-mail and SNS; acknowledged and
resolved by named people, each change itself an audit event."""

import json
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from audit_events.alerts.services import raise_alert
from audit_events.models import Alert, AlertRule
from audit_events.store import get_event_store
from portal.alerts import AlertStateError, acknowledge_alert, resolve_alert

pytestmark = pytest.mark.django_db
START = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)  # recent: alerts are sent


@pytest.fixture
def rule():
    return AlertRule.objects.create(name="password-changes", severity="high", spec={
        "kind": "threshold", "event_types": ["PasswordChanged"], "count": 3, "window_seconds": 300,
        "group_by": "aggregate"})


def evidence(*ids):
    return [{"event_id": i, "tenant": "acme", "aggregate_type": "User", "aggregate_id": "u-1", "sequence": n}
            for n, i in enumerate(ids, 1)]


def raise_one(rule, *ids, end=START + timedelta(minutes=4)):
    return raise_alert(rule=rule, tenant="acme", group_key="aggregate:acme/User/u-1", window_start=START,
                       window_end=end, evidence=evidence(*ids), summary="3 PasswordChanged of acme/User/u-1 in 5 min")


def test_one_alert_per_rule_key_and_window_and_evidence_is_merged(rule, settings, django_capture_on_commit_callbacks):
    settings.AUDIT_ALERT_EMAILS = ["soc@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        alert, created = raise_one(rule, "e1", "e2", "e3")
    with django_capture_on_commit_callbacks(execute=True):
        again, created_again = raise_one(rule, "e2", "e3", "e4", end=START + timedelta(minutes=5))
    assert created and not created_again and again.pk == alert.pk and Alert.objects.count() == 1
    again.refresh_from_db()
    assert [e["event_id"] for e in again.evidence] == ["e1", "e2", "e3", "e4"]
    assert again.window_end == START + timedelta(minutes=5) and again.severity == "high"
    (message,) = mail.outbox  # sent once, for the new alert only
    assert message.to == ["soc@example.com"] and message.subject.startswith("[HIGH] password-changes:")
    assert f"alert id: {alert.pk}" in message.body


def test_an_alert_goes_to_the_sns_topic_with_its_severity(rule, settings, aws_client, aws_credentials, moto_url,
                                                          monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topic = sns.create_topic(Name="alerts-test")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts-test-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    settings.AUDIT_ALERTS_TOPIC_ARN = topic
    with django_capture_on_commit_callbacks(execute=True):
        raise_one(rule, "e1", "e2", "e3")
    (received,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    body = json.loads(received["Body"])
    assert body["Subject"].startswith("[HIGH] password-changes")
    assert body["MessageAttributes"]["severity"]["Value"] == "high"


def test_acknowledged_and_resolved_by_named_people_each_an_audit_event(rule):
    alert, _ = raise_one(rule, "e1", "e2", "e3")
    ann = get_user_model().objects.create_user("ann", "ann@example.com", "x-unused-Password-1")
    acknowledge_alert(alert_id=alert.pk, user=ann)
    with pytest.raises(AlertStateError, match="only an open alert can be acknowledged"):
        acknowledge_alert(alert_id=alert.pk, user=ann)
    with pytest.raises(AlertStateError, match="resolution: say how"):
        resolve_alert(alert_id=alert.pk, user=ann, resolution="  ")
    resolve_alert(alert_id=alert.pk, user=ann, resolution="the user reset it themselves three times")
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.resolved_by) == ("resolved", ann, ann)
    with pytest.raises(AlertStateError, match="resolved already"):
        resolve_alert(alert_id=alert.pk, user=ann, resolution="again")
    audit = [e.record for e in get_event_store().read_aggregate("_portal", "User", "user:ann")]
    assert [r["event_type"] for r in audit] == ["AlertAcknowledged", "AlertResolved"]
    assert audit[1]["payload"]["target"]["alert_id"] == alert.pk
    assert audit[1]["payload"]["details"]["resolution"] == "the user reset it themselves three times"


def test_metrics_count_alerts_by_state_and_severity(rule, client):
    alert, _ = raise_one(rule, "e1", "e2", "e3")
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "x-unused-Password-1"))
    text = client.get("/metrics").content.decode()
    assert 'audit_alerts{status="open",severity="high"} 1' in text
    assert 'audit_alerts{status="resolved",severity="high"} 0' in text
