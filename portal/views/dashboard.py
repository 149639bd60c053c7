"""The dashboard (the admin's index): open alerts, activity over the past 30 days, top event
types and actors, chain verification and indexing lag per tenant, all within the reader's scope."""

from datetime import datetime, timedelta, timezone

from django.utils import timezone as django_timezone

from audit_events.schema import parse_timestamp
from audit_events.search import SearchQuery
from audit_events.selectors import latest_verification, projection_lag, search_events

from .alerts import open_alerts
from .common import portal_reader
from .tenancy import current_tenant

__all__ = ["DASHBOARD_DAYS", "dashboard_context"]

DASHBOARD_DAYS = 30


def dashboard_context(request) -> dict:
    reader = portal_reader(request)
    tenant = current_tenant(request)
    now = django_timezone.now()
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=DASHBOARD_DAYS - 1)
    query = SearchQuery(from_=since, to=today + timedelta(days=1), tenant=tenant, limit=1)
    _, result = search_events(reader=reader, query=query, audit_kind="DashboardViewed")
    # Tenants the reader has events in, by the search's access filter, not by attributes alone.
    tenants = [tenant] if tenant else sorted(f["value"] for f in result.facets.get("tenant", []))
    lag = projection_lag(reader=reader)
    return {
        "dashboard": {
            "since": since,
            "tenant": tenant,
            "result": result,
            "per_day": _per_day(result.histogram, since, DASHBOARD_DAYS),
            "event_types": result.facets.get("event_type", []),
            "actors": result.facets.get("actor_id", []),
            "tenants": [
                {"name": name, "verification": latest_verification(name), "lag": lag["tenants"].get(name, 0)}
                for name in tenants
            ],
            "projections": lag["projections"],
            "lag_capped": lag["capped"],
            "open_alerts": open_alerts(request),
        }
    }


def _per_day(histogram: dict, since: datetime, days: int) -> list[dict]:
    """One bucket per day of the period, quiet days included."""
    counts = {}
    for bucket in histogram.get("buckets", []):
        day = parse_timestamp(bucket["start"]).date()
        counts[day] = counts.get(day, 0) + bucket["count"]
    return [{"start": (since + timedelta(days=n)).isoformat().replace("+00:00", "Z"),
             "count": counts.get((since + timedelta(days=n)).date(), 0)} for n in range(days)]
