"""The event page: metadata, the payload as a tree (masked values shown as masked),
the hash and its link to the previous event, and links to the related views."""

import uuid

from django.http import Http404
from django.urls import reverse
from django.utils.http import urlencode

from audit_events.checkpoints.status import checkpoint_statuses
from audit_events.hashing import GENESIS_HASH
from audit_events.selectors import event_for, latest_verification
from audit_events.store import get_event_store
from audit_events.verification import ChainWalker

from .common import event_row, page, portal_reader, timeline_url, visible_record

__all__ = ["TIMELINE_PAGE", "checkpoint_badges", "event_view"]

TIMELINE_PAGE = 50


def event_view(request, event_id):
    try:
        event_id = str(uuid.UUID(event_id))
    except ValueError:
        raise Http404("No event you may view has this id.") from None
    reader = portal_reader(request)
    event = event_for(reader=reader, event_id=event_id)  # audited, allowed or not
    if event is None:
        raise Http404("No event you may view has this id.")
    record = visible_record(reader, event)
    page_start = (event.sequence - 1) // TIMELINE_PAGE * TIMELINE_PAGE
    context = {
        "row": event_row(record),
        "record": record,
        "stored_hash": event.hash,
        "masked": bool(record.get("pii")) and not reader.may_see_pii(event),
        "link": _link_check(event),
        "tenant_verification": latest_verification(event.tenant),
        "checkpoint": checkpoint_badges([event])[event.record["event_id"]],
        "proof_api": reverse("api-v1:event_proof", args=[event_id]),
        "timeline_at_event": timeline_url(event.tenant, event.aggregate_type, event.aggregate_id,
                                          after=page_start, sequence=event.sequence) + f"#seq-{event.sequence}",
        "trace_url": reverse("admin:audit_trace", args=[record["trace_id"]]) if record.get("trace_id") else None,
    }
    title = f"{record['event_type']} · {event.aggregate_type} {event.aggregate_id} #{event.sequence}"
    crumbs = [("Search events", reverse("admin:audit_search")),
              (f"{event.aggregate_type} {event.aggregate_id}",
               timeline_url(event.tenant, event.aggregate_type, event.aggregate_id, after=page_start)),
              (f"#{event.sequence}", None)]
    return page(request, "admin/portal/event.html", title=title, crumbs=crumbs, **context)


def checkpoint_badges(events) -> dict[str, dict | None]:
    """What the pages say of each event's checkpoint (``None``: not yet in one), by event id:
    the checkpoint's tree size, whether the event's proof reaches its signed root and whether
    its signature verifies, and the API address of that checkpoint."""
    events = list(events)
    statuses = checkpoint_statuses(events)
    badges, listing = {}, reverse("api-v1:list_checkpoints")
    for event in events:
        status = statuses.get(event.record["event_id"])
        if status is None:
            badges[event.record["event_id"]] = None
            continue
        checkpoint = status["checkpoint"]
        query = urlencode({"tenant": checkpoint.tenant, "after_size": checkpoint.tree_size - 1, "limit": 1})
        badges[event.record["event_id"]] = {
            "size": checkpoint.tree_size, "made_at": checkpoint.made_at, "key_id": checkpoint.key_id,
            "included": status["included"], "signature_valid": status["signature_valid"],
            "ok": status["included"] and status["signature_valid"],
            "url": f"{listing}?{query}",
        }
    return badges


def _link_check(event) -> dict:
    """Recompute this event's hash and its link to the previous event's stored hash."""
    key = (event.tenant, event.aggregate_type, event.aggregate_id)
    prev_hash = GENESIS_HASH
    if event.sequence > 1:
        previous = get_event_store().read_aggregate(*key, after=event.sequence - 2, limit=1)
        if not previous or previous[0].sequence != event.sequence - 1:
            return {"ok": False, "reason": f"event #{event.sequence - 1} is missing"}
        prev_hash = previous[0].hash
    walker = ChainWalker(key, after_sequence=event.sequence - 1, prev_hash=prev_hash)
    walker.check(event)
    return {"ok": walker.ok, "reason": walker.broken.reason if walker.broken else "",
            "prev_hash": prev_hash}
