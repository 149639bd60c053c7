"""The alerts API: the inbox, one alert, acknowledge and resolve (one endpoint per operation)."""

from datetime import datetime
from typing import Literal

from django.core.exceptions import PermissionDenied
from ninja import Query, Router, Schema
from pydantic import Field

from audit_events.api import ErrorOut, json_response
from portal.access.auth import PERSON_AUTH
from portal.access.readers import reader_for

from . import services
from .display import AlertMask, counted_events, visible_evidence
from .selectors import (
    MAX_ID, SEVERITIES, STATUSES, AlertFilterError, alert_filters, alert_page, alert_read_by, alerts_visible_to,
    audit_refusal,
)

router = Router(tags=["alerts"])

PAGE_DEFAULT, PAGE_MAX = 50, 200


class AlertsQuery(Schema):
    status: str | None = Field(None, description="One of: " + ", ".join(STATUSES) + " (default: any).")
    severity: str | None = Field(None, description="One of: " + ", ".join(SEVERITIES) + ".")
    rule: str | None = Field(None, description="A rule's name.")
    tenant: str | None = Field(None, description="One tenant (others of yours are left out).")
    limit: str | None = Field(None, description=f"Alerts per page, 1 to {PAGE_MAX} (default {PAGE_DEFAULT}).")
    cursor: str | None = Field(None, description="The `next` of the previous page.")


class AlertOut(Schema):
    id: int
    rule: str = Field(description="The rule's name.")
    severity: Literal["low", "medium", "high", "critical"]
    tenant: str
    group_key: str = Field(description="What the rule grouped by, e.g. `aggregate:acme/User/u-1`; an actor's id "
                                       "or IP address reads `(masked)` unless you may see personal data.")
    window_start: datetime
    window_end: datetime
    event_count: int = Field(description="Every matching event in the window (evidence keeps the first 100).")
    evidence: list[dict] = Field(description="The events that made it that you may view: event_id, tenant, "
                                             "aggregate_type, aggregate_id, sequence (event_type, occurred_at "
                                             "when known).")
    evidence_withheld: int = Field(description="Evidence events left out because your access does not include "
                                               "them.")
    summary: str
    status: Literal["open", "acknowledged", "resolved"]
    raised_at: datetime
    acknowledged_by: str | None = Field(description="Username.")
    acknowledged_at: datetime | None
    resolved_by: str | None = Field(description="Username.")
    resolved_at: datetime | None
    resolution: str


class AlertPageOut(Schema):
    alerts: list[AlertOut]
    next: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ResolveIn(Schema):
    resolution: str = Field("", description="How the alert was resolved (required, up to 4,000 characters kept).")


def alert_body(alert, mask: AlertMask, evidence: tuple[list[dict], int]) -> dict:
    return AlertOut(
        id=alert.pk, rule=alert.rule.name, severity=alert.severity, tenant=alert.tenant,
        group_key=mask.group_key(alert), window_start=alert.window_start, window_end=alert.window_end,
        event_count=counted_events(alert), evidence=evidence[0], evidence_withheld=evidence[1],
        summary=mask.summary(alert),
        status=alert.status, raised_at=alert.raised_at,
        acknowledged_by=alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        acknowledged_at=alert.acknowledged_at,
        resolved_by=alert.resolved_by.get_username() if alert.resolved_by else None,
        resolved_at=alert.resolved_at, resolution=alert.resolution,
    ).model_dump(mode="json")


def _whole(text: str | None, name: str, *, default: int | None, low: int, high: int) -> int | None:
    if text in (None, ""):
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise AlertFilterError([{"field": name, "message": f"must be a whole number from {low} to {high}"}])
    return int(text)


def _not_found() -> dict:
    return {"detail": "no alert you may see has this id"}


@router.get(
    "/alerts", auth=PERSON_AUTH, response={200: AlertPageOut, 400: ErrorOut, 401: ErrorOut},
    summary="Alerts of your tenants, newest first",
    description=(
        "Alerts raised in the tenants you may search, filtered by status, severity, rule and tenant (each "
        "optional; any status by default). Pages are keyset cursors over the alert id, newest first: pass "
        "`next` as `cursor` for the following page. A page once read never shifts, however many alerts "
        "are raised meanwhile; a bad value answers 400 naming the parameter."
    ),
)
def list_alerts(request, query: Query[AlertsQuery]):
    try:
        filters = alert_filters(query.model_dump())
        limit = _whole(query.limit, "limit", default=PAGE_DEFAULT, low=1, high=PAGE_MAX)
        cursor = _whole(query.cursor, "cursor", default=None, low=1, high=MAX_ID)
    except AlertFilterError as exc:
        return json_response({"detail": "invalid parameters", "errors": exc.errors}, 400)
    reader = reader_for(request.auth, request)
    alerts, next_cursor = alert_page(alerts_visible_to(user=request.auth, subject=reader.subject, **filters),
                                     limit=limit, cursor=cursor)
    reader.audit("AlertsListed", target={}, details={"filters": {k: v for k, v in filters.items() if v},
                                                    "cursor": cursor, "returned": len(alerts)})
    mask, evidence = AlertMask(reader), visible_evidence(reader, alerts)
    return json_response({"alerts": [alert_body(alert, mask, evidence[alert.pk]) for alert in alerts],
                          "next": str(next_cursor) if next_cursor is not None else None})


@router.get("/alerts/{alert_id}", auth=PERSON_AUTH, response={200: AlertOut, 401: ErrorOut, 404: ErrorOut},
            summary="One alert with its evidence (404 outside your tenants, as for a missing one)")
def read_alert(request, alert_id: int):
    reader = reader_for(request.auth, request)
    alert = alert_read_by(reader=reader, alert_id=alert_id)
    if alert is None:
        return json_response(_not_found(), 404)
    return json_response(_body(reader, alert))


def _body(reader, alert) -> dict:
    return alert_body(alert, AlertMask(reader), visible_evidence(reader, [alert])[alert.pk])


def _changed(request, alert_id: int, change):
    """Run ``change()`` on an alert the caller may change; errors as statuses."""
    reader = reader_for(request.auth, request)
    try:
        services.check_may_change_alert(user=request.auth, alert_id=alert_id, subject=reader.subject)
        alert = change()
    except services.AlertNotFoundError:
        audit_refusal(reader, alert_id, "change_alert")
        return json_response(_not_found(), 404)
    except PermissionDenied as exc:
        return json_response({"detail": str(exc)}, 403)
    except services.AlertStateError as exc:
        if exc.field:  # the input was wrong, not the alert's state
            return json_response({"detail": "invalid request", "errors": [
                {"field": exc.field, "message": str(exc).removeprefix(f"{exc.field}: ")}]}, 400)
        return json_response({"detail": str(exc)}, 409)
    return json_response(_body(reader, alert))


CHANGE_RESPONSES = {200: AlertOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


@router.post("/alerts/{alert_id}/acknowledge", auth=PERSON_AUTH, response=CHANGE_RESPONSES,
             summary="Acknowledge an open alert (needs audit_events.change_alert; 409 unless it is open)")
def acknowledge_alert(request, alert_id: int):
    return _changed(request, alert_id,
                    lambda: services.acknowledge_alert(alert_id=alert_id, user=request.auth, request=request))


@router.post("/alerts/{alert_id}/resolve", auth=PERSON_AUTH, response=CHANGE_RESPONSES,
             summary="Resolve an alert, saying how (needs audit_events.change_alert; 409 if resolved already)")
def resolve_alert(request, alert_id: int, body: ResolveIn):
    return _changed(request, alert_id, lambda: services.resolve_alert(
        alert_id=alert_id, user=request.auth, resolution=body.resolution, request=request))
