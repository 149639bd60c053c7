"""Reads of alerts for a person: the inbox and single alerts, within the tenants they may search."""

from collections.abc import Mapping

from django.db.models import Count, QuerySet
from django.utils import timezone

from audit_events.models import Alert, AlertRule
from audit_events.schema import SAFE_INTEGER
from portal.access.engine import tenant_scope
from portal.access.policy import Subject
from portal.access.selectors import subject_for

__all__ = [
    "CHANGE_PERMISSION", "MAX_ID", "SEVERITIES", "STATUSES", "AlertFilterError", "alert_filters", "alert_for",
    "alert_page", "alert_read_by", "alerts_visible_to", "audit_refusal", "inbox_choices", "may_change_alerts",
    "open_alert_counts", "searchable_tenants",
]

STATUSES = [value for value, _ in Alert.STATES]
SEVERITIES = [value for value, _ in AlertRule.SEVERITIES]
CHANGE_PERMISSION = "audit_events.change_alert"
#: the largest id a database column holds (a 64-bit signed integer)
MAX_ID = 2**63 - 1


class AlertFilterError(ValueError):
    """Filter or paging values that cannot be used; ``errors`` is ``[{"field", "message"}]``."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def alert_filters(params: Mapping[str, str]) -> dict:
    """The inbox filters (``status``, ``severity``, ``rule`` by name, ``tenant``) from query
    parameters; a blank or missing one does not filter."""
    chosen = {name: (params.get(name) or "").strip() or None for name in ("status", "severity", "rule", "tenant")}
    errors = [{"field": name, "message": "must be one of " + ", ".join(allowed)}
              for name, allowed in (("status", STATUSES), ("severity", SEVERITIES))
              if chosen[name] is not None and chosen[name] not in allowed]
    if errors:
        raise AlertFilterError(errors)
    return chosen


def searchable_tenants(*, user, subject: Subject | None = None) -> list[str] | None:
    """The tenants whose alerts ``user`` sees: those their policies let them ``search``
    (``None``: every tenant). Superusers too go by their policies, as on every audit page."""
    subject = subject if subject is not None else subject_for(user)
    return tenant_scope(subject, "search", now=timezone.now())


def alerts_visible_to(*, user, status: str | None = None, rule: str | None = None, tenant: str | None = None,
                      severity: str | None = None, subject: Subject | None = None) -> QuerySet[Alert]:
    """Alerts of the tenants ``user`` may search, newest first, narrowed by the filters given.

    ``subject`` is the user's, when the caller has read it already (a page reads it once).
    """
    alerts = Alert.objects.select_related("rule", "acknowledged_by", "resolved_by").order_by("-pk")
    scope = searchable_tenants(user=user, subject=subject)
    if scope is not None:
        alerts = alerts.filter(tenant__in=scope)
    filters = {"status": status, "rule__name": rule, "tenant": tenant, "severity": severity}
    return alerts.filter(**{name: value for name, value in filters.items() if value is not None})


def alert_for(*, user, alert_id: int, subject: Subject | None = None) -> Alert | None:
    """The alert if ``user`` may see it; ``None`` when it is missing or outside their tenants."""
    if not 0 < alert_id <= MAX_ID:  # the database would refuse it; no such alert either way
        return None
    return alerts_visible_to(user=user, subject=subject).filter(pk=alert_id).first()


def alert_read_by(*, reader, alert_id: int) -> Alert | None:
    """``alert_for`` on behalf of a reader who opens the alert, recorded in the access audit
    like an event read: ``AlertViewed``, or ``ReadRefused`` whether or not it exists."""
    alert = alert_for(user=reader.user, alert_id=alert_id, subject=reader.subject)
    if alert is None:
        audit_refusal(reader, alert_id, "view_alert")
        return None
    # The id names the alert; its key may be personal data, which need not be copied here.
    reader.audit("AlertViewed", target={"alert_id": alert.pk, "rule": alert.rule.name, "tenant": alert.tenant})
    return alert


def audit_refusal(reader, alert_id: int, action: str) -> None:
    """Record ``ReadRefused`` for an alert id asked for outside scope (or missing)."""
    # Event payloads hold integers up to 2^53 only: a larger id asked for goes in as text.
    asked = alert_id if abs(alert_id) <= SAFE_INTEGER else str(alert_id)
    reader.audit("ReadRefused", target={"alert_id": asked}, details={"action": action})


def alert_page(alerts: QuerySet[Alert], *, limit: int, cursor: int | None = None) -> tuple[list[Alert], int | None]:
    """Up to ``limit`` of ``alerts`` (newest first) with an id below ``cursor``, and the cursor
    of the next page (``None`` on the last): new alerts never shift a page already read."""
    if cursor is not None:
        alerts = alerts.filter(pk__lt=cursor)
    page = list(alerts.order_by("-pk")[:limit + 1])
    more, page = len(page) > limit, page[:limit]
    return page, (page[-1].pk if more else None)


def inbox_choices(*, user, subject: Subject | None = None) -> dict[str, list[str]]:
    """The rules and tenants that have alerts ``user`` may see: the inbox's filter choices."""
    alerts = alerts_visible_to(user=user, subject=subject).order_by()
    return {
        "rule": sorted(alerts.values_list("rule__name", flat=True).distinct()),
        "tenant": sorted(alerts.values_list("tenant", flat=True).distinct()),
    }


def open_alert_counts(*, user, tenant: str | None = None, subject: Subject | None = None) -> dict:
    """How many open alerts ``user`` may see (in ``tenant``, if given), in all and per severity
    (most severe first)."""
    rows = (alerts_visible_to(user=user, status="open", tenant=tenant, subject=subject)
            .order_by().values("severity").annotate(count=Count("pk")))
    counts = {row["severity"]: row["count"] for row in rows}
    return {
        "total": sum(counts.values()),
        "by_severity": [{"severity": s, "count": counts[s]} for s in reversed(SEVERITIES) if counts.get(s)],
    }


def may_change_alerts(user) -> bool:
    """Whether ``user`` may acknowledge and resolve the alerts they see (a Django permission)."""
    return bool(user is not None and user.is_active and user.has_perm(CHANGE_PERMISSION))
