"""Snapshots every ``AUDIT_SNAPSHOT_EVERY`` events of an aggregate (a replay cache)."""

from typing import Sequence

from django.conf import settings

from ..models import AggregateSnapshot
from ..replay.reducers import REDUCER_VERSION, ReplayedState, reduce_event
from ..schemas import upcast_record
from ..store import StoredEvent, get_event_store
from .base import Projection

__all__ = ["SnapshotProjection", "snapshot_at"]


def snapshot_at(event: StoredEvent) -> AggregateSnapshot:
    """Fold the aggregate through ``event`` (from the newest earlier snapshot) and keep it."""
    key = {"tenant": event.tenant, "aggregate_type": event.aggregate_type, "aggregate_id": event.aggregate_id}
    base = (AggregateSnapshot.objects.filter(**key, sequence__lt=event.sequence, reducer_version=REDUCER_VERSION)
            .order_by("-sequence").first())
    current = ReplayedState(base.state, base.deleted) if base else ReplayedState()
    after = base.sequence if base else 0
    store = get_event_store()
    while after < event.sequence:
        page = store.read_aggregate(event.tenant, event.aggregate_type, event.aggregate_id,
                                    after=after, limit=1000, before=event.sequence + 1)
        if not page:
            break
        for item in page:
            current = reduce_event(current, upcast_record(item.record))
        after = page[-1].sequence
    snapshot, _ = AggregateSnapshot.objects.update_or_create(
        **key, sequence=event.sequence,
        defaults={"last_hash": event.hash, "state": current.state, "deleted": current.deleted,
                  "reducer_version": REDUCER_VERSION},
    )
    return snapshot


class SnapshotProjection(Projection):
    """Idempotent by (aggregate, sequence): a snapshot is rewritten, never duplicated."""

    name = "snapshots"

    def handle(self, events: Sequence[StoredEvent]) -> None:
        every = settings.AUDIT_SNAPSHOT_EVERY
        for event in events:
            if every > 0 and event.sequence % every == 0:
                snapshot_at(event)

    def reset(self) -> None:
        AggregateSnapshot.objects.all().delete()
