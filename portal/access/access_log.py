"""Who viewed which record: the access audit indexed by the record each read was about."""

from typing import Sequence

from audit_events.projections.base import Projection
from audit_events.schema import parse_timestamp
from audit_events.store import StoredEvent, get_event_store

from .audit import PORTAL_TENANT
from .models import RecordAccess

__all__ = ["AccessLogProjection", "record_views"]


class AccessLogProjection(Projection):
    """A row per ``_portal`` event whose target names one aggregate; idempotent by position."""

    name = "access_log"

    def handle(self, events: Sequence[StoredEvent]) -> None:
        rows = []
        for event in events:
            if event.tenant != PORTAL_TENANT:
                continue
            record = event.record
            target = (record.get("payload") or {}).get("target") or {}
            key = (target.get("tenant"), target.get("aggregate_type"), target.get("aggregate_id"))
            if not all(isinstance(part, str) and part for part in key):
                continue  # searches, sign-ins, access changes: about no one record
            rows.append(RecordAccess(
                position=event.position, event_id=record["event_id"], tenant=key[0][:64],
                aggregate_type=key[1][:64], aggregate_id=key[2][:200], kind=record["event_type"],
                actor_id=(record.get("actor") or {}).get("id", "")[:200],
                recorded_at=parse_timestamp(record["recorded_at"]),
            ))
        RecordAccess.objects.bulk_create(rows, ignore_conflicts=True)

    def reset(self) -> None:
        RecordAccess.objects.all().delete()


def record_views(*, reader, tenant: str, aggregate_type: str, aggregate_id: str, limit: int = 20):
    """The newest access-audit events about this record that the reader may search.

    Audited as ``AccessAuditViewed``. Returns ``(events, more)``.
    """
    rows = RecordAccess.objects.filter(tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    candidates = list(rows.order_by("-position").values_list("event_id", flat=True)[: limit * 5 + 1])
    events = [e for e in get_event_store().get_many(candidates) if reader.may_read("search", e)]
    reader.audit("AccessAuditViewed",
                 target={"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id},
                 details={"returned": min(len(events), limit)})
    return events[:limit], len(events) > limit
