"""People acting on alerts: acknowledge, resolve. Each change names who made it and is itself
an access-audit event."""

from django.db import transaction
from django.utils import timezone

from audit_events.models import Alert

from .access.audit import record_access

__all__ = ["AlertStateError", "acknowledge_alert", "resolve_alert"]


class AlertStateError(ValueError):
    """A change the alert's state does not allow (e.g. acknowledging a resolved alert)."""


def _target(alert: Alert) -> dict:
    return {"alert_id": alert.pk, "rule": alert.rule.name, "tenant": alert.tenant, "key": alert.group_key}


def acknowledge_alert(*, alert_id: int, user, request=None) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("rule").get(pk=alert_id)
        if alert.status != "open":
            raise AlertStateError(f"alert {alert.pk} is {alert.status}; only an open alert can be acknowledged")
        alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", user, timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        record_access("AlertAcknowledged", user=user, request=request, target=_target(alert))
    return alert


def resolve_alert(*, alert_id: int, user, resolution: str, request=None) -> Alert:
    resolution = (resolution or "").strip()
    if not resolution:
        raise AlertStateError("resolution: say how the alert was resolved (e.g. a false positive, or what was done)")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("rule").get(pk=alert_id)
        if alert.status == "resolved":
            raise AlertStateError(f"alert {alert.pk} is resolved already")
        alert.status, alert.resolved_by, alert.resolved_at = "resolved", user, timezone.now()
        alert.resolution = resolution[:4000]
        alert.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
        record_access("AlertResolved", user=user, request=request, target=_target(alert),
                      details={"resolution": alert.resolution})
    return alert
