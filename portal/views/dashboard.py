"""The dashboard (the admin's index): activity over the past 30 days, top event types
and actors, projection lag and chain verification per tenant, all within the reader's scope."""

from datetime import timedelta

from django.utils import timezone

from audit_events.search import SearchQuery
from audit_events.selectors import latest_verification, projection_lag, search_events

from .common import portal_reader
from .tenancy import current_tenant

__all__ = ["DASHBOARD_DAYS", "dashboard_context"]

DASHBOARD_DAYS = 30


def dashboard_context(request) -> dict:
    reader = portal_reader(request)
    tenant = current_tenant(request)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=DASHBOARD_DAYS - 1)
    query = SearchQuery(from_=since, tenant=tenant, limit=1)
    _, result = search_events(reader=reader, query=query, audit_kind="DashboardViewed")
    tenants = sorted({f["value"] for f in result.facets.get("tenant", [])} | set(reader.subject.tenants))
    if tenant:
        tenants = [tenant]
    lag = projection_lag(tenants=tenants)
    return {
        "dashboard": {
            "since": since,
            "tenant": tenant,
            "result": result,
            "event_types": result.facets.get("event_type", []),
            "actors": result.facets.get("actor_id", []),
            "tenants": [
                {"name": name, "verification": latest_verification(name), "lag": lag["tenants"].get(name, 0)}
                for name in tenants
            ],
            "projections": lag["projections"],
            "lag_capped": lag["capped"],
        }
    }
