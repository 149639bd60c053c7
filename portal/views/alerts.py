"""The alerts inbox and an alert's page, where people who may change alerts acknowledge
and resolve them (POST, then back to the alert's page)."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import reverse

from portal.alerts import (
    AlertFilterError, AlertMask, AlertNotFoundError, AlertStateError, acknowledge_alert, alert_filters,
    alert_read_by, alerts_visible_to, check_may_change_alert, counted_events, inbox_choices, may_change_alerts,
    open_alert_counts, resolve_alert, visible_evidence,
)
from portal.alerts.selectors import SEVERITIES, STATUSES, audit_refusal

from .common import page, portal_reader, request_subject, timeline_url, url_with
from .events import TIMELINE_PAGE
from .tenancy import current_tenant

__all__ = ["ALERTS_PAGE", "alert_view", "alerts_view", "open_alerts"]

ALERTS_PAGE = 50
NOT_FOUND = "No alert you may see has this id."


def open_alerts(request) -> dict:
    """The open alerts the signed-in person may see, in the switcher's tenant: counted once a
    request (the sidebar and the dashboard both show them)."""
    counts = getattr(request, "_portal_open_alerts", None)
    if counts is None:
        counts = request._portal_open_alerts = open_alert_counts(
            user=request.user, tenant=current_tenant(request), subject=request_subject(request))
    return counts


def alerts_view(request):
    if "tenant" not in request.GET:
        tenant = current_tenant(request)
        if tenant:  # as on the search page: the switcher's choice goes into the URL
            return HttpResponseRedirect(url_with(request, drop=("page",), tenant=tenant))
    params = {"status": "open", **request.GET.dict()}  # open by default; "status=" shows every status
    reader = portal_reader(request)
    errors, alerts = [], None
    try:
        filters = alert_filters(params)
    except AlertFilterError as exc:
        errors = exc.errors
    else:
        found = alerts_visible_to(user=request.user, subject=reader.subject, **filters)
        alerts = Paginator(found, ALERTS_PAGE).get_page(request.GET.get("page"))
        reader.audit("AlertsListed", target={}, details={"filters": {k: v for k, v in filters.items() if v},
                                                        "page": alerts.number, "returned": len(alerts)})
    mask = AlertMask(reader)
    context = {
        "errors": errors,
        "alerts": alerts,
        "rows": [_row(alert, mask) for alert in alerts or []],
        "filters": _filters(request, params, inbox_choices(user=request.user, subject=reader.subject)),
        "page_urls": _page_urls(request, alerts),
    }
    return page(request, "admin/portal/alerts.html", title="Alerts", crumbs=[("Alerts", None)], **context)


def _row(alert, mask: AlertMask) -> dict:
    return {"alert": alert, "url": reverse("admin:audit_alert", args=[alert.pk]), "key": _key(alert, mask),
            "summary": mask.summary(alert), "event_count": counted_events(alert)}


def _key(alert, mask: AlertMask) -> dict:
    return {"kind": mask.key_kind(alert), "text": mask.group_key(alert), "masked": mask.hides(alert)}


def _filters(request, params: dict, choices: dict) -> list[dict]:
    values = {"status": STATUSES, "severity": SEVERITIES, "rule": choices["rule"], "tenant": choices["tenant"]}
    filters = []
    for name, options in values.items():
        chosen = params.get(name) or ""
        if chosen and chosen not in options:
            options = [chosen, *options]
        links = [{"label": "All", "url": url_with(request, drop=("page",), **{name: ""}), "selected": not chosen}]
        links += [{"label": value, "url": url_with(request, drop=("page",), **{name: value}),
                   "selected": value == chosen} for value in options]
        filters.append({"name": name, "heading": name, "choices": links})
    return filters


def _page_urls(request, alerts) -> dict:
    if alerts is None:
        return {}
    return {
        "previous": url_with(request, drop=(), page=alerts.previous_page_number()) if alerts.has_previous() else None,
        "next": url_with(request, drop=(), page=alerts.next_page_number()) if alerts.has_next() else None,
    }


def alert_view(request, alert_id):
    if request.method == "POST":
        return _change(request, alert_id)
    reader = portal_reader(request)
    alert = alert_read_by(reader=reader, alert_id=alert_id)
    if alert is None:
        raise Http404(NOT_FOUND)
    mask = AlertMask(reader)
    evidence, withheld = visible_evidence(reader, [alert])[alert.pk]
    context = {
        "alert": alert,
        "key": _key(alert, mask),
        "summary": mask.summary(alert),
        "event_count": counted_events(alert),
        "kind": (alert.rule.spec or {}).get("kind", ""),
        "evidence": [_evidence_row(item) for item in evidence],
        "withheld": withheld,
        "may_change": may_change_alerts(request.user) and alert.status != "resolved",
    }
    crumbs = [("Alerts", reverse("admin:audit_alerts")), (f"#{alert.pk}", None)]
    return page(request, "admin/portal/alert.html", title=f"{alert.rule.name}: alert #{alert.pk}", crumbs=crumbs,
                **context)


def _evidence_row(item: dict) -> dict:
    """One evidence event with its page and its place on the aggregate's timeline."""
    key = (item.get("tenant", ""), item.get("aggregate_type", ""), item.get("aggregate_id", ""))
    sequence = item.get("sequence")
    timeline = None
    if all(key):
        if isinstance(sequence, int) and sequence > 0:
            timeline = timeline_url(*key, after=(sequence - 1) // TIMELINE_PAGE * TIMELINE_PAGE) + f"#seq-{sequence}"
        else:
            timeline = timeline_url(*key)
    event_id = item.get("event_id")
    return {"item": item, "timeline_url": timeline,
            "event_url": reverse("admin:audit_event", args=[event_id]) if event_id else None}


def _change(request, alert_id):
    """Acknowledge or resolve (``action``); what was wrong comes back as a message."""
    action = request.POST.get("action")
    if action not in ("acknowledge", "resolve"):
        return HttpResponseBadRequest("action: must be acknowledge or resolve")
    try:
        check_may_change_alert(user=request.user, alert_id=alert_id, subject=request_subject(request))
    except AlertNotFoundError:
        audit_refusal(portal_reader(request), alert_id, "change_alert")
        raise Http404(NOT_FOUND) from None
    # PermissionDenied goes on up: the admin answers 403.
    try:
        if action == "acknowledge":
            acknowledge_alert(alert_id=alert_id, user=request.user, request=request)
        else:
            resolve_alert(alert_id=alert_id, user=request.user, resolution=request.POST.get("resolution", ""),
                          request=request)
    except AlertStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Alert #{alert_id} {action}d.")
    return HttpResponseRedirect(reverse("admin:audit_alert", args=[alert_id]))
