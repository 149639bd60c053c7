"""The latest state of every aggregate: its payloads merged in sequence order."""

from datetime import datetime
from typing import Sequence

from django.db import transaction

from ..models import AggregateState
from ..state import merge_patch
from ..store import StoredEvent
from .base import Projection

__all__ = ["LatestStateProjection", "ProjectionGapError"]


class ProjectionGapError(Exception):
    """An event arrived before one it follows: applying it would corrupt the state."""


class LatestStateProjection(Projection):
    """Idempotent by (aggregate, sequence): an event at or below the stored
    sequence was applied already and is skipped.
    """

    name = "latest_state"

    def handle(self, events: Sequence[StoredEvent]) -> None:
        by_aggregate: dict[tuple, list[StoredEvent]] = {}
        for event in events:
            key = (event.tenant, event.aggregate_type, event.aggregate_id)
            by_aggregate.setdefault(key, []).append(event)
        with transaction.atomic():
            for (tenant, aggregate_type, aggregate_id), items in by_aggregate.items():
                self._apply(tenant, aggregate_type, aggregate_id, items)

    def _apply(self, tenant, aggregate_type, aggregate_id, events):
        row = (
            AggregateState.objects.select_for_update()
            .filter(tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
            .first()
        )
        if row is None:
            row = AggregateState(
                tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
                state={}, sequence=0,
            )
        changed = False
        for event in sorted(events, key=lambda e: e.sequence):
            if event.sequence <= row.sequence:
                continue
            if event.sequence != row.sequence + 1:
                raise ProjectionGapError(
                    f"{tenant}/{aggregate_type}/{aggregate_id}: got sequence "
                    f"{event.sequence} after {row.sequence}"
                )
            record = event.record
            row.state = merge_patch(row.state, record["payload"])
            row.sequence = event.sequence
            row.last_event_id = record["event_id"]
            row.last_occurred_at = datetime.fromisoformat(record["occurred_at"])
            changed = True
        if changed:
            row.save()

    def reset(self) -> None:
        AggregateState.objects.all().delete()
