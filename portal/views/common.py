"""What every audit view shares: the reader, the page frame, event rows, query URLs."""

from datetime import datetime, timezone
import re

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.encoding import escape_uri_path
from django.utils.http import urlencode

from audit_events.store import StoredEvent
from portal.access.readers import UserReader
from portal.access.selectors import subject_for

__all__ = ["event_row", "page", "portal_reader", "request_subject", "url_with", "utc_times", "visible_record"]


def request_subject(request):
    """The signed-in person's subject (attributes, role policies, grants), read once a request:
    the frame's tenant switcher and the page's readers all need it."""
    subject = getattr(request, "_portal_subject", None)
    if subject is None:
        subject = request._portal_subject = subject_for(request.user)
    return subject


def portal_reader(request) -> UserReader:
    """The signed-in person as a reader; their reads are audited ``via: portal``."""
    return UserReader(request.user, request, via="portal", subject=request_subject(request))


def page(request, template: str, *, title: str, crumbs: list[tuple[str, str | None]], **context):
    """An admin page: the site's context, a title and breadcrumbs (label, url)."""
    return TemplateResponse(request, template, {
        **admin.site.each_context(request), "title": title, "crumbs": crumbs, **context,
    })


def visible_record(reader, event: StoredEvent) -> dict:
    """The record as the reader may see it (masked where required; not to be changed)."""
    return reader.visible_record(event)


def visible_records(reader, events) -> list[dict]:
    """``visible_record`` for a page of events, the keys of their sealed values read together."""
    reader.keys.preload_sealed([event.record for event in events])
    return [reader.visible_record(event) for event in events]


def event_row(record: dict) -> dict:
    """What a result table shows of one (already masked) record, with its links."""
    actor = record.get("actor") or {}
    return {
        "record": record,
        "actor_id": actor.get("id"),
        "url": reverse("admin:audit_event", args=[record["event_id"]]),
        "timeline_url": timeline_url(record["tenant"], record["aggregate_type"], record["aggregate_id"]),
        "actor_url": reverse("admin:audit_actor", args=[actor["id"]]) if actor.get("id") else None,
    }


def timeline_url(tenant: str, aggregate_type: str, aggregate_id: str, **params) -> str:
    url = reverse("admin:audit_timeline", args=[tenant, aggregate_type, aggregate_id])
    return f"{url}?{urlencode(params)}" if params else url


def url_with(request, drop=("cursor",), **changes) -> str:
    """This page's URL with some parameters set (``None``: removed); the cursor goes."""
    params = request.GET.copy()
    for name in drop:
        params.pop(name, None)
    for name, value in changes.items():
        name = name.rstrip("_")
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    query, here = params.urlencode(), escape_uri_path(request.path)
    return f"{here}?{query}" if query else here


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def utc_times(params: dict, names=("from", "to")) -> dict:
    """Dates and offset-less times from the page's inputs, read as UTC (the API wants offsets)."""
    params = dict(params)
    for name in names:
        value = params.get(name, "")
        if _DATE.match(value):
            params[name] = f"{value}T00:00:00Z"
        elif _NAIVE.match(value):
            params[name] = f"{value}Z"
    return params


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant in UTC; one without an offset is read as UTC.

    ``ValueError`` if unreadable or outside what UTC can express (year 1 at +14:00).
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("out of range") from None
