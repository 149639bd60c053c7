"""People acting on alerts: acknowledge, resolve. Each change names who made it and is itself
an access-audit event."""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from audit_events.models import Alert
from portal.access.audit import record_access

from .display import PERSONAL_KEY_KINDS
from .selectors import alert_for, may_change_alerts

__all__ = ["AlertNotFoundError", "AlertStateError", "acknowledge_alert", "check_may_change_alert", "resolve_alert"]


class AlertStateError(ValueError):
    """A change the alert's state does not allow (e.g. acknowledging a resolved alert).

    ``field`` names the input at fault when the input, not the state, was wrong.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class AlertNotFoundError(LookupError):
    """No alert the person may see has this id (missing and out of scope alike: 404)."""


def check_may_change_alert(*, user, alert_id: int, subject=None) -> Alert:
    """The alert, if ``user`` may see it and change alerts.

    ``AlertNotFoundError`` when they may not see it (checked first, so that a refusal never
    tells an alert outside their tenants exists), else ``PermissionDenied`` without
    ``audit_events.change_alert``.
    """
    alert = alert_for(user=user, alert_id=alert_id, subject=subject)
    if alert is None:
        raise AlertNotFoundError(f"no alert you may see has id {alert_id}")
    if not may_change_alerts(user):
        raise PermissionDenied("acknowledging and resolving alerts needs the permission "
                               "audit_events.change_alert; ask an administrator")
    return alert


def _target(alert: Alert) -> dict:
    return {"alert_id": alert.pk, "rule": alert.rule.name, "tenant": alert.tenant, "key": alert.group_key}


def _personal(alert: Alert, *pointers: str) -> list[str]:
    """The payload's personal data: a key that names a person (an actor, their IP address)."""
    named = alert.group_key.partition(":")[0] in PERSONAL_KEY_KINDS
    return (["/target/key"] if named else []) + list(pointers)


def acknowledge_alert(*, alert_id: int, user, request=None) -> Alert:
    """Mark an open alert as seen and being looked into by ``user``."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("rule").get(pk=alert_id)
        if alert.status != "open":
            raise AlertStateError(f"alert {alert.pk} is {alert.status}; only an open alert can be acknowledged")
        alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", user, timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        record_access("AlertAcknowledged", user=user, request=request, target=_target(alert), pii=_personal(alert))
    return alert


def resolve_alert(*, alert_id: int, user, resolution: str, request=None) -> Alert:
    """Close an open or acknowledged alert, saying how it was resolved."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise AlertStateError("resolution: say how the alert was resolved (e.g. a false positive, or what was done)",
                              field="resolution")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().select_related("rule").get(pk=alert_id)
        if alert.status == "resolved":
            raise AlertStateError(f"alert {alert.pk} is resolved already")
        alert.status, alert.resolved_by, alert.resolved_at = "resolved", user, timezone.now()
        alert.resolution = resolution[:4000]
        alert.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
        # The resolution is free text: it may name people, so it is personal data too.
        record_access("AlertResolved", user=user, request=request, target=_target(alert),
                      details={"resolution": alert.resolution}, pii=_personal(alert, "/details/resolution"))
    return alert
