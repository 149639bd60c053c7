"""Snapshots every ``AUDIT_SNAPSHOT_EVERY`` events of an aggregate (a replay cache).

Each holds two folds: of the records as stored, for readers who may see
everything, and of the records with personal data masked, for readers who may
see every event but none of its personal data.
"""

from typing import Sequence

import hashlib
import hmac

from django.conf import settings

from ..models import AggregateSnapshot
from ..replay.reducers import REDUCER_VERSION, ReplayedState, reduce_event
from ..jcs import canonicalize
from ..masking import mask_record
from ..schema import parse_timestamp
from ..schemas import upcast_record, upcaster_fingerprint
from ..store import StoredEvent, get_event_store
from .base import Projection

__all__ = ["SnapshotProjection", "snapshot_at", "snapshot_digest", "snapshot_is_sound"]


def snapshot_digest(*, tenant, aggregate_type, aggregate_id, sequence, last_hash, state, deleted, masked,
                    occurred_in_order, occurred_max) -> str:
    """An HMAC binding a snapshot's state to its place in the chain and to the code that made it.

    Keyed with SECRET_KEY: someone who can write the database but not read the
    settings cannot forge a snapshot that replay would trust.
    """
    message = canonicalize({
        "aggregate": [tenant, aggregate_type, aggregate_id], "sequence": sequence, "last_hash": last_hash,
        "state": state, "deleted": deleted, "masked": masked,
        "occurred": [occurred_in_order, occurred_max],
        "reducer": REDUCER_VERSION, "upcasters": upcaster_fingerprint(),
    })
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def snapshot_is_sound(snapshot: AggregateSnapshot) -> bool:
    expected = snapshot_digest(
        tenant=snapshot.tenant, aggregate_type=snapshot.aggregate_type, aggregate_id=snapshot.aggregate_id,
        sequence=snapshot.sequence, last_hash=snapshot.last_hash, state=snapshot.state, deleted=snapshot.deleted,
        masked=snapshot.masked, occurred_in_order=snapshot.occurred_in_order, occurred_max=snapshot.occurred_max,
    )
    return snapshot.reducer_version == REDUCER_VERSION and hmac.compare_digest(expected, snapshot.digest)


def snapshot_at(event: StoredEvent) -> AggregateSnapshot:
    """Fold the aggregate through ``event`` (from the newest earlier snapshot) and keep it."""
    key = {"tenant": event.tenant, "aggregate_type": event.aggregate_type, "aggregate_id": event.aggregate_id}
    base = next(
        (candidate for candidate in AggregateSnapshot.objects.filter(**key, sequence__lt=event.sequence)
         .order_by("-sequence")[:3] if snapshot_is_sound(candidate)),
        None,
    )  # a forged or stale base is never built upon
    current = ReplayedState(base.state, base.deleted) if base else ReplayedState()
    masked = ReplayedState(base.masked["state"], base.masked["deleted"]) if base else ReplayedState()
    after = base.sequence if base else 0
    in_order, latest = (base.occurred_in_order, base.occurred_max) if base else (True, "")
    store = get_event_store()
    while after < event.sequence:
        page = store.read_aggregate(event.tenant, event.aggregate_type, event.aggregate_id,
                                    after=after, limit=1000, before=event.sequence + 1)
        if not page:
            break
        for item in page:
            occurred = item.record["occurred_at"]
            if latest and parse_timestamp(occurred) < parse_timestamp(latest):
                in_order = False
            else:
                latest = occurred
            current = reduce_event(current, upcast_record(item.record))
            masked = reduce_event(masked, upcast_record(mask_record(item.record)) if item.record.get("pii")
                                  else upcast_record(item.record))
        after = page[-1].sequence
    masked_fold = {"state": masked.state, "deleted": masked.deleted}
    occurred = {"occurred_in_order": in_order, "occurred_max": latest}
    snapshot, _ = AggregateSnapshot.objects.update_or_create(
        **key, sequence=event.sequence,
        defaults={"last_hash": event.hash, "state": current.state, "deleted": current.deleted,
                  "masked": masked_fold, "reducer_version": REDUCER_VERSION, **occurred,
                  "digest": snapshot_digest(**key, sequence=event.sequence, last_hash=event.hash,
                                            state=current.state, deleted=current.deleted, masked=masked_fold,
                                            **occurred)},
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
