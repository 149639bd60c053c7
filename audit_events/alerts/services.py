"""Raising alerts (once per rule, key and window) and sending them out."""

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..aws import aws_client
from ..models import Alert, AlertRule

__all__ = ["notify", "raise_alert"]

log = logging.getLogger(__name__)

#: an alert whose window ended longer ago than this is stored, not sent
NOTIFY_WITHIN = timedelta(days=1)


def raise_alert(*, rule: AlertRule, tenant: str, group_key: str, window_start: datetime, window_end: datetime,
                evidence: list[dict], summary: str, event_count: int = 0) -> tuple[Alert, bool]:
    """The alert for this rule, key and window, made if new (and then sent once it commits).

    A window found again — a redelivered event, or more evidence in the same window — adds
    what is new to the existing alert's evidence (up to ``Alert.EVIDENCE_LIMIT`` events) and
    raises nothing new. ``event_count`` is how many events the window holds so far.
    """
    limit = Alert.EVIDENCE_LIMIT
    with transaction.atomic():  # the merge reads and writes under a row lock: one transaction
        try:
            with transaction.atomic():  # a savepoint: the unique constraint may refuse the insert
                alert = Alert.objects.create(rule=rule, severity=rule.severity, tenant=tenant, group_key=group_key,
                                             window_start=window_start, window_end=window_end,
                                             evidence=evidence[:limit], event_count=max(event_count, len(evidence)),
                                             summary=summary[:300])
        except IntegrityError:
            alert = Alert.objects.select_for_update().get(rule=rule, group_key=group_key, window_start=window_start)
            known = {item["event_id"] for item in alert.evidence}
            added = [item for item in evidence if item["event_id"] not in known]
            count = max(alert.event_count, event_count, len(known) + len(added))
            if added or window_end > alert.window_end or count > alert.event_count:
                alert.evidence = (alert.evidence + added)[:limit]
                alert.window_end = max(alert.window_end, window_end)
                alert.event_count = count
                alert.summary = summary[:300] if event_count else alert.summary
                alert.save(update_fields=["evidence", "window_end", "event_count", "summary"])
            return alert, False
        if window_end >= timezone.now() - NOTIFY_WITHIN:
            transaction.on_commit(lambda: notify(alert))
        else:  # found in history (a first run over old events, a rebuild): in the inbox, not mailed
            log.debug("alert %s is about %s: older than a day, so it is not sent", alert.pk, window_end.isoformat())
    return alert, True


def notify(alert: Alert) -> None:
    """E-mail to ``AUDIT_ALERT_EMAILS`` and, on AWS, SNS (``AUDIT_ALERTS_TOPIC_ARN``). A failure
    to send is logged, not raised: the alert is stored and in the inbox either way."""
    subject = f"[{alert.severity.upper()}] {alert.rule.name}: {alert.summary}"[:200]
    body = "\n".join([
        alert.summary, "",
        f"rule: {alert.rule.name} ({alert.severity})", f"tenant: {alert.tenant}", f"key: {alert.group_key}",
        f"window: {alert.window_start.isoformat()} to {alert.window_end.isoformat()}",
        f"evidence: {len(alert.evidence)} event(s)", f"alert id: {alert.pk}",
    ])
    if settings.AUDIT_ALERT_EMAILS:
        try:
            send_mail(subject, body, None, settings.AUDIT_ALERT_EMAILS)
        except Exception:
            log.exception("alert %s: the e-mail could not be sent", alert.pk)
    if settings.AUDIT_ALERTS_TOPIC_ARN:
        try:
            aws_client("sns").publish(
                TopicArn=settings.AUDIT_ALERTS_TOPIC_ARN, Subject=subject[:99], Message=body,  # "under 100"
                MessageAttributes={"severity": {"DataType": "String", "StringValue": alert.severity},
                                   "rule": {"DataType": "String", "StringValue": alert.rule.name}})
        except Exception:
            log.exception("alert %s: the SNS notification could not be sent", alert.pk)
    log.info("alert raised: %s", json.dumps({"alert": alert.pk, "rule": alert.rule.name, "tenant": alert.tenant,
                                               "key": alert.group_key, "severity": alert.severity}))
