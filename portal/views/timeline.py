"""The aggregate timeline: its events in order, each with what it changed; the state as
of any event or moment (business or recorded time); the chain's status; and, for people
who may read the access audit, who viewed this record."""

from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from audit_events.replay import ReplayedState, diff_states, reduce_event, state_at
from audit_events.schemas import upcast_record
from audit_events.search import SearchQuery
from audit_events.selectors import aggregate_events_for, latest_verification, search_events
from audit_events.store import get_event_store
from portal.access.audit import PORTAL_TENANT
from portal.access.engine import decide

from .common import event_row, page, parse_instant, portal_reader, timeline_url, visible_record
from .events import TIMELINE_PAGE

__all__ = ["timeline_view"]

WHO_VIEWED_LIMIT = 20


def timeline_view(request, tenant, aggregate_type, aggregate_id):
    key = (tenant, aggregate_type, aggregate_id)
    reader = portal_reader(request)
    store = get_event_store()
    errors = []
    after = _whole_number(request.GET.get("after"), "after", errors)
    found = aggregate_events_for(reader=reader, tenant=tenant, aggregate_type=aggregate_type,
                                 aggregate_id=aggregate_id, after=after, limit=TIMELINE_PAGE)
    if found is None:  # outside the reader's scope reads exactly like no such aggregate
        raise Http404("No aggregate you may view has this id.")
    events, next_after = found
    head = store.heads(tenant=tenant, aggregate=(aggregate_type, aggregate_id)).get(key, (0, None))[0]

    choice = _state_choice(request, errors, head)
    state = state_at(store, reader, *key, **choice)
    reader.audit("StateReplayed", target=dict(zip(("tenant", "aggregate_type", "aggregate_id"), key)),
                 details={"sequence": choice.get("sequence"), "time": choice["time"], "via_page": "timeline",
                          "at": choice["at"].isoformat() if choice.get("at") else None})
    context = {
        "key": {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id},
        "entries": _entries(store, reader, key, events, after),
        "errors": errors,
        "head": head,
        "state": state,
        "choice": choice,
        "state_api": reverse("api-v1:aggregate_state", args=key),
        "events_api": reverse("api-v1:read_aggregate_events", args=key),
        "tenant_verification": latest_verification(tenant),
        "prev_url": timeline_url(*key, after=max(after - TIMELINE_PAGE, 0)) if after > 0 else None,
        "next_url": timeline_url(*key, after=next_after) if next_after is not None else None,
        "first_url": timeline_url(*key) if after > 0 else None,
        "last_url": timeline_url(*key, after=max(head - 1, 0) // TIMELINE_PAGE * TIMELINE_PAGE)
        if next_after is not None else None,
        "page_from": after + 1,
        "page_to": events[-1].sequence if events else after,
        "who_viewed": _who_viewed(reader, key),
    }
    crumbs = [("Search events", reverse("admin:audit_search")), (f"{tenant}", None),
              (f"{aggregate_type} {aggregate_id}", None)]
    return page(request, "admin/portal/timeline.html", title=f"{aggregate_type} {aggregate_id}",
                crumbs=crumbs, **context)


def _whole_number(text, name, errors) -> int:
    if text in (None, ""):
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        errors.append({"field": name, "message": "must be a whole number of 0 or more"})
        return 0
    return int(text)


def _state_choice(request, errors, head) -> dict:
    """The moment the state panel shows: ``sequence``, or ``at`` on a ``time`` line, or now."""
    time = request.GET.get("time") or "occurred"
    if time not in ("occurred", "recorded"):
        errors.append({"field": "time", "message": "must be occurred (business time) or recorded"})
        time = "occurred"
    at_text = request.GET.get("at") or ""
    if at_text:
        try:
            return {"sequence": None, "at": parse_instant(at_text), "time": time}
        except ValueError:
            errors.append({"field": "at", "message": "must be a date and time such as 2026-01-31T14:00"})
    if request.GET.get("sequence"):
        sequence = _whole_number(request.GET["sequence"], "sequence", errors)
        return {"sequence": min(sequence, head), "at": None, "time": time}
    return {"sequence": None, "at": None, "time": time}


def _entries(store, reader, key, events, after) -> list[dict]:
    """Each event of the page with the change it made to the state the reader may see."""
    if after > 0:
        before = state_at(store, reader, *key, sequence=after)
        current = ReplayedState(before.state, before.deleted) if before else ReplayedState()
    else:
        current = ReplayedState()
    entries = []
    for event in events:
        visible = visible_record(reader, event)
        diff = None
        if reader.may_read("replay_state", event):
            # As replay folds it: masked where required, in the newest payload shape.
            folded = reduce_event(current, upcast_record({k: v for k, v in visible.items() if k != "hash"}))
            diff = _diff_rows(current, folded)
            current = folded
        entries.append({"row": event_row(visible), "sequence": event.sequence,
                        "diff": diff, "deleted": current.deleted})
    return entries


def _diff_rows(old: ReplayedState, new: ReplayedState) -> list[dict]:
    diff = diff_states(old.state, new.state)
    rows = [{"pointer": p, "kind": "added", "old": None, "new": v} for p, v in diff.added.items()]
    rows += [{"pointer": p, "kind": "removed", "old": v, "new": None} for p, v in diff.removed.items()]
    rows += [{"pointer": p, "kind": "changed", "old": v["old"], "new": v["new"]} for p, v in diff.changed.items()]
    if new.deleted and not old.deleted:
        rows.append({"pointer": "", "kind": "deleted", "old": None, "new": None})
    return sorted(rows, key=lambda r: r["pointer"])


def _who_viewed(reader, key) -> dict | None:
    """The access-audit events about this aggregate, for people who may read the access audit."""
    probe = {"tenant": PORTAL_TENANT, "aggregate_type": "User", "aggregate_id": "user:probe",
             "event_type": "TimelineViewed", "classification": "confidential",
             "actor_id": "user:probe", "actor_type": "user"}
    if not decide(reader.subject, "search", probe, now=timezone.now()).allowed:
        return None
    tenant, aggregate_type, aggregate_id = key
    query = SearchQuery(tenant=PORTAL_TENANT, q=aggregate_id, limit=100)
    events, _ = search_events(reader=reader, query=query, audit_kind="AccessAuditViewed")
    views = []
    for event in events:
        target = (event.record.get("payload") or {}).get("target") or {}
        if (target.get("tenant"), target.get("aggregate_type"), target.get("aggregate_id")) == key:
            views.append(event_row(visible_record(reader, event)))
    return {"views": views[:WHO_VIEWED_LIMIT], "more": len(views) > WHO_VIEWED_LIMIT}
