"""The aggregate timeline: its events in order, each with what it changed; the state as
of any event or moment (business or recorded time); the chain's status; and, for people
who may read the access audit, who viewed this record."""

from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from audit_events.masking import MASK
from audit_events.replay import ReplayedState, diff_states, reduce_event, state_at
from audit_events.schema import SAFE_INTEGER, resolve_pointer
from audit_events.schemas import upcast_record
from audit_events.selectors import (
    aggregate_classification, aggregate_events_for, last_visible_sequence, latest_verification,
)
from audit_events.store import get_event_store
from portal.access.access_log import record_views
from portal.access.audit import PORTAL_TENANT
from portal.access.engine import decide

from .common import event_row, page, parse_instant, portal_reader, timeline_url, visible_records
from .events import TIMELINE_PAGE, checkpoint_badges

__all__ = ["timeline_view"]

WHO_VIEWED_LIMIT = 20


def timeline_view(request, tenant, aggregate_type, aggregate_id):
    key = (tenant, aggregate_type, aggregate_id)
    target = {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}
    reader = portal_reader(request)
    store = get_event_store()
    errors = []
    after = _whole_number(request.GET.get("after"), "after", errors)
    found = aggregate_events_for(reader=reader, tenant=tenant, aggregate_type=aggregate_type,
                                 aggregate_id=aggregate_id, after=after, limit=TIMELINE_PAGE)
    if found is None:  # outside the reader's scope reads exactly like no such aggregate
        raise Http404("No aggregate you may view has this id.")
    events, next_after = found
    choice = _state_choice(request, errors)
    state = state_at(store, reader, *key, sequence=choice["sequence"], at=choice["at"], time=choice["time"])
    # Only what the reader may see: the last visible event, not the stored head. The
    # latest state already says which that is.
    if state is not None and choice["sequence"] is None and choice["at"] is None:
        last = state.sequence
    else:
        last = last_visible_sequence(reader=reader, tenant=tenant, aggregate_type=aggregate_type,
                                     aggregate_id=aggregate_id)
    entries = _entries(store, reader, key, events, after) if state is not None else None
    if state is None:  # may view the timeline but not replay it
        reader.audit("ReadRefused", target=target, details={"action": "replay_state"})
    else:
        classification = aggregate_classification(*key)
        reader.audit("StateReplayed", target=target | ({"classification": classification} if classification else {}),
                     details={"sequence": choice["sequence"], "time": choice["time"], "page": "timeline",
                              "at": choice["at"].isoformat() if choice["at"] else None})
    if entries is None:
        entries = [{"row": event_row(record), "sequence": e.sequence, "diff": None}
                   for e, record in zip(events, visible_records(reader, events))]
    badges = checkpoint_badges(events)  # the page's events at once: a few queries, not a few each
    for entry, event in zip(entries, events):
        entry["checkpoint"] = badges[event.record["event_id"]]
    last_page = max(last - 1, 0) // TIMELINE_PAGE * TIMELINE_PAGE
    context = {
        "key": target,
        "entries": entries,
        "errors": errors,
        "last": last,
        "state": state,
        "choice": choice,
        "state_api": reverse("api-v1:aggregate_state", args=key),
        "events_api": reverse("api-v1:read_aggregate_events", args=key),
        "tenant_verification": latest_verification(tenant),
        "prev_url": timeline_url(*key, after=max(after - TIMELINE_PAGE, 0)) if after > 0 else None,
        "next_url": timeline_url(*key, after=next_after) if next_after is not None else None,
        "first_url": timeline_url(*key) if after > 0 else None,
        "last_url": timeline_url(*key, after=last_page) if next_after is not None and last_page > after else None,
        "after": after,
        "page_from": events[0].sequence if events else after + 1,
        "page_to": events[-1].sequence if events else after,
        "who_viewed": _who_viewed(request, key),
    }
    crumbs = [("Search events", reverse("admin:audit_search")),
              (tenant, reverse("admin:audit_search") + f"?tenant={tenant}"),
              (f"{aggregate_type} {aggregate_id}", None)]
    return page(request, "admin/portal/timeline.html", title=f"{aggregate_type} {aggregate_id}",
                crumbs=crumbs, **context)


def _whole_number(text, name, errors) -> int:
    if text in (None, ""):
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > SAFE_INTEGER:
        errors.append({"field": name, "message": f"must be a whole number from 0 to {SAFE_INTEGER}"})
        return 0
    return int(text)


def _state_choice(request, errors) -> dict:
    """The moment the state panel shows: ``sequence``, or ``at`` on a ``time`` line, or now."""
    choice = {"sequence": None, "at": None, "time": request.GET.get("time") or "occurred"}
    if choice["time"] not in ("occurred", "recorded"):
        errors.append({"field": "time", "message": "must be occurred (business time) or recorded"})
        choice["time"] = "occurred"
    at_text, sequence_text = request.GET.get("at") or "", request.GET.get("sequence") or ""
    if at_text and sequence_text:
        errors.append({"field": "sequence", "message": "give sequence or at, not both (showing the latest state)"})
    elif at_text:
        try:
            choice["at"] = parse_instant(at_text)
        except ValueError:
            errors.append({"field": "at", "message": "must be a date and time such as 2026-01-31T14:00"})
    elif sequence_text:
        choice["sequence"] = _whole_number(sequence_text, "sequence", errors)
    return choice


def _entries(store, reader, key, events, after) -> list[dict]:
    """Each event of the page with the change it made to the state the reader may see."""
    if after > 0 and events:
        before = state_at(store, reader, *key, sequence=events[0].sequence - 1)
        current = ReplayedState(before.state, before.deleted) if before else ReplayedState()
    else:
        current = ReplayedState()
    entries = []
    for event, visible in zip(events, visible_records(reader, events)):
        diff = None
        if reader.may_read("replay_state", event):
            # As replay folds it: masked where required, in the newest payload shape.
            folded = reduce_event(current, upcast_record(visible))
            diff = _diff_rows(current, folded, _masked_pointers(visible))
            current = folded
        entries.append({"row": event_row(visible), "sequence": event.sequence, "diff": diff})
    return entries


def _masked_pointers(visible: dict) -> list[str]:
    """The personal-data fields this event set, when the reader sees them masked."""
    pointers = []
    for pointer in visible.get("pii") or []:
        try:
            if resolve_pointer(visible.get("payload") or {}, pointer) == MASK:
                pointers.append(pointer)
        except KeyError:
            continue
    return pointers


def _diff_rows(old: ReplayedState, new: ReplayedState, masked: list[str]) -> list[dict]:
    diff = diff_states(old.state, new.state)
    rows = [{"pointer": p, "kind": "added", "old": None, "new": v} for p, v in diff.added.items()]
    rows += [{"pointer": p, "kind": "removed", "old": v, "new": None} for p, v in diff.removed.items()]
    rows += [{"pointer": p, "kind": "changed", "old": v["old"], "new": v["new"]} for p, v in diff.changed.items()]
    # Masked before and after compares equal; the event still set the field, so say so.
    shown = {row["pointer"] for row in rows}
    rows += [{"pointer": p, "kind": "set (masked)", "old": None, "new": MASK} for p in masked if p not in shown]
    if new.deleted and not old.deleted:
        rows.append({"pointer": "", "kind": "deleted", "old": None, "new": None})
    return sorted(rows, key=lambda r: r["pointer"])


def _who_viewed(request, key) -> dict | None:
    """The access-audit events about this record, for people who may read the access audit."""
    reader = portal_reader(request)  # its own audit event, flagged on its own reads
    probe = {"tenant": PORTAL_TENANT, "aggregate_type": "User", "aggregate_id": "user:probe",
             "event_type": "TimelineViewed", "classification": "confidential",
             "actor_id": "user:probe", "actor_type": "user"}
    if not decide(reader.subject, "search", probe, now=timezone.now()).allowed:
        return None
    tenant, aggregate_type, aggregate_id = key
    events, more = record_views(reader=reader, tenant=tenant, aggregate_type=aggregate_type,
                                aggregate_id=aggregate_id, limit=WHO_VIEWED_LIMIT)
    return {"views": [event_row(record) for record in visible_records(reader, events)], "more": more}
