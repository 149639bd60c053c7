"""The embedded driver of projections: follows the change feed with checkpoints."""

import logging
import time
from typing import Callable, Sequence

from django.db import connection, transaction

from .models import ProjectionCheckpoint
from .projections import Projection, configured_projections
from .store import EventStore, get_event_store

__all__ = ["catch_up", "rebuild", "refresh_planner_statistics", "run_forever"]

#: new events after which SQLite's planner statistics are refreshed
ANALYZE_EVERY = 50_000

log = logging.getLogger(__name__)


def catch_up(
    *,
    projections: Sequence[Projection] | None = None,
    store: EventStore | None = None,
    batch_size: int = 1000,
) -> dict[str, int]:
    """Run every projection up to the end of the feed; return events handled per projection.

    A batch and its checkpoint commit together, so a crash leaves the
    checkpoint at the last batch that was fully applied.
    """
    store = store or get_event_store()
    projections = configured_projections() if projections is None else projections
    handled = {}
    for projection in projections:
        checkpoint, _ = ProjectionCheckpoint.objects.get_or_create(name=projection.name)
        count = 0
        while True:
            events = store.read_all(after_position=checkpoint.position, limit=batch_size)
            if not events:
                break
            with transaction.atomic():
                projection.handle(events)
                checkpoint.position = events[-1].position
                checkpoint.save(update_fields=["position", "updated_at"])
            count += len(events)
        handled[projection.name] = count
    return handled


def rebuild(projection: Projection) -> None:
    """Drop what ``projection`` derived and rewind it to the start of the feed."""
    with transaction.atomic():
        projection.reset()
        ProjectionCheckpoint.objects.filter(name=projection.name).delete()


def run_forever(
    *, interval: float, should_stop: Callable[[], bool] = lambda: False, **kwargs
) -> None:
    """Catch up, sleep ``interval`` seconds when idle, repeat until ``should_stop()``."""
    since_analyze = ANALYZE_EVERY  # once at start, then as the store grows
    while not should_stop():
        handled = catch_up(**kwargs)
        since_analyze += max(handled.values(), default=0)
        if since_analyze >= ANALYZE_EVERY:
            refresh_planner_statistics()
            since_analyze = 0
        if any(handled.values()):
            log.info("projected %s", handled)
            continue
        time.sleep(interval)


def refresh_planner_statistics() -> None:
    """SQLite has no autovacuum: without ``ANALYZE`` its planner picks the tenant index
    for every filter and walks a tenant's whole index (seconds on a million events).
    Sampled (``analysis_limit``): ~80 ms on a million events. PostgreSQL analyzes itself."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA analysis_limit=1000")
            cursor.execute("ANALYZE")
