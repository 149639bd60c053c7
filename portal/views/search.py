"""The search page: a query box, the admin's list filters with facet counts, a histogram,
a result table and cursor pages. The URL holds the whole search, so it can be shared."""

from datetime import timedelta

from django.http import HttpResponseRedirect
from django.utils import timezone

from audit_events.search import SearchQueryError, parse_search_params
from audit_events.selectors import search_events

from .common import event_row, page, portal_reader, url_with, utc_times, visible_records
from .tenancy import current_tenant

__all__ = ["results_page", "search_view"]

#: the list filters on the right, in the admin's order: (parameter, heading)
FILTERS = [
    ("tenant", "tenant"),
    ("event_type", "event type"),
    ("aggregate_type", "aggregate type"),
    ("actor_id", "actor"),
    ("classification", "classification"),
]
CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"]
RANGES = [("Past 24 hours", timedelta(hours=24)), ("Past 7 days", timedelta(days=7)),
          ("Past 30 days", timedelta(days=30)), ("Past year", timedelta(days=365))]


def search_view(request):
    if "tenant" not in request.GET:
        tenant = current_tenant(request)
        if tenant:  # the switcher's choice goes into the URL, so the URL is the whole search
            return HttpResponseRedirect(url_with(request, tenant=tenant))
    return results_page(request, title="Search events", audit_kind="SearchPerformed",
                        crumbs=[("Search events", None)])


def results_page(request, *, title, audit_kind, crumbs, fixed=None, template="admin/portal/search.html"):
    """Search results under the reader's access; ``fixed`` parameters come from the URL path."""
    fixed = fixed or {}
    params = {k: v for k, v in request.GET.items() if v != ""}
    params.update(fixed)
    reader = portal_reader(request)
    errors, rows, result = [], [], None
    try:
        query = parse_search_params(utc_times(params))
    except SearchQueryError as exc:
        errors = exc.errors
    else:
        events, result = search_events(reader=reader, query=query, audit_kind=audit_kind)
        rows = [event_row(record) for record in visible_records(reader, events)]
    context = {
        "params": params,
        "errors": errors,
        "rows": rows,
        "result": result,
        "filters": _filters(request, params, result, fixed),
        "ranges": _ranges(request, params),
        "next_url": url_with(request, drop=(), cursor=result.next_cursor) if result and result.next_cursor else None,
        "first_url": url_with(request) if params.get("cursor") else None,
        "sort_url": url_with(request, sort="oldest" if params.get("sort", "newest") == "newest" else "newest"),
        "fixed": fixed,
    }
    return page(request, template, title=title, crumbs=crumbs, **context)


def _filters(request, params, result, fixed):
    facets = result.facets if result is not None else {}
    filters = []
    for name, heading in FILTERS:
        if name in fixed:
            continue
        chosen = params.get(name)
        counted = {f["value"]: f["count"] for f in facets.get(name, [])}
        values = CLASSIFICATIONS if name == "classification" else list(counted)
        if chosen and chosen not in values:
            values.insert(0, chosen)
        choices = [{"label": "All", "url": url_with(request, **{name: "" if name == "tenant" else None}),
                    "selected": not chosen, "count": None}]
        # Counts only where the index counted them (first pages); no guessed zeros.
        choices += [{"label": value, "url": url_with(request, **{name: value}), "selected": value == chosen,
                     "count": counted.get(value)} for value in values]
        filters.append({"name": name, "heading": heading, "choices": choices})
    return filters


def _ranges(request, params):
    now = timezone.now().replace(second=0, microsecond=0)
    chosen_from = params.get("from")
    choices = [{"label": "Any time", "url": url_with(request, from_=None, to=None),
                "selected": not chosen_from and not params.get("to")}]
    for label, delta in RANGES:
        start = (now - delta).strftime("%Y-%m-%dT%H:%MZ")
        choices.append({"label": label, "url": url_with(request, from_=start, to=None), "selected": False})
    return choices
