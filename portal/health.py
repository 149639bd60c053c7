"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus.

``/healthz`` says the process answers and nothing more (no authentication, no detail).
``/readyz`` says whether what a request needs is reachable — the database, the event store,
the search backend — by name only: an error's text could tell an anonymous caller too much
(it is logged). ``/metrics`` is Prometheus text for staff (a verified session) or a scraper
holding ``METRICS_TOKEN``.
"""

import hmac
import logging

from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit_events.metrics import APPEND_SECONDS, INGESTED
from audit_events.models import Alert, AlertRule, FailedProjection, ProjectionCheckpoint
from audit_events.projections import configured_projections
from audit_events.search import get_search_index
from audit_events.store import get_event_store


__all__ = ["healthz", "metrics", "readyz"]

log = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


CHECKS = {
    "database": _database,
    "store": lambda: get_event_store().last_position(),
    "search": lambda: get_search_index().last_position(),
}


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {}
    for name, check in CHECKS.items():
        if name == "search" and settings.PORTAL_API_ONLY:
            continue  # the ingest stage never searches (and its role may not reach the domain)
        try:
            check()
            checks[name] = "ok"
        except Exception:  # any failure means "not ready"; what failed is logged, not told
            log.exception("readiness check %s failed", name)
            checks[name] = "failed"
    ready = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    return admin.site.has_permission(request)  # staff, active, TOTP-verified where required


@never_cache
@require_GET
def metrics(request):
    if not _may_scrape(request):
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    stored = get_event_store().last_position()
    names = [projection.name for projection in configured_projections()]
    positions = dict(ProjectionCheckpoint.objects.filter(name__in=names).values_list("name", "position"))
    alerts = {(status, severity): count for status, severity, count in
              Alert.objects.values("status", "severity").annotate(n=Count("pk")).values_list("status", "severity", "n")}
    failed = dict(FailedProjection.objects.filter(resolved_at__isnull=True).values("projection")
                  .annotate(open=Count("pk")).values_list("projection", "open"))
    lines = [
        "# HELP audit_events_stored_total Events the store holds (the feed's last position).",
        "# TYPE audit_events_stored_total counter",
        f"audit_events_stored_total {stored}",
        "# HELP audit_projection_lag_events Events each projection has yet to apply.",
        "# TYPE audit_projection_lag_events gauge",
        *(f'audit_projection_lag_events{{projection="{name}"}} {max(stored - positions.get(name, 0), 0)}'
          for name in names),
        "# HELP audit_failed_projection_events Events a projection could not apply, or holds behind them (open).",
        "# TYPE audit_failed_projection_events gauge",
        *(f'audit_failed_projection_events{{projection="{name}"}} {failed.get(name, 0)}' for name in names),
        "# HELP audit_alerts Alerts by state and severity.",
        "# TYPE audit_alerts gauge",
        *(f'audit_alerts{{status="{status}",severity="{severity}"}} {alerts.get((status, severity), 0)}'
          for status, _ in Alert.STATES for severity, _ in AlertRule.SEVERITIES),
        *INGESTED.exposition(),
        *APPEND_SECONDS.exposition(),
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
