"""Alerts for people: the inbox and single alerts (selectors), acknowledging and resolving
them (services); the API is ``portal.alerts.api``."""

from .display import AlertMask, counted_events, visible_evidence
from .selectors import (
    AlertFilterError,
    alert_filters,
    alert_for,
    alert_page,
    alert_read_by,
    alerts_visible_to,
    inbox_choices,
    may_change_alerts,
    open_alert_counts,
)
from .services import AlertNotFoundError, AlertStateError, acknowledge_alert, check_may_change_alert, resolve_alert

__all__ = [
    "AlertFilterError", "AlertMask", "AlertNotFoundError", "AlertStateError", "acknowledge_alert", "alert_filters",
    "alert_for", "alert_page", "alert_read_by", "alerts_visible_to", "check_may_change_alert", "counted_events",
    "inbox_choices", "may_change_alerts", "open_alert_counts", "resolve_alert", "visible_evidence",
]
