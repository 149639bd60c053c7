"""The embedded driver of projections: follows the change feed with checkpoints."""

import logging
import time
from typing import Callable, Sequence

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import FailedProjection, ProjectionCheckpoint
from .projections import Projection, configured_projections
from .store import EventStore, StoredEvent, get_event_store

__all__ = ["catch_up", "rebuild", "record_failure", "refresh_planner_statistics", "retry_failed", "run_forever"]

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

    A batch and its checkpoint commit together, so a crash leaves the checkpoint at the last
    batch that was fully applied. An event a projection raises on is kept, with the error, in
    ``FailedProjection``, and so is every later event of its aggregate until a retry applies
    them (``retry_failed``): the projector moves on for the other aggregates, never silently.
    """
    store = store or get_event_store()
    projections = configured_projections() if projections is None else projections
    handled = {}
    for projection in projections:
        checkpoint, _ = ProjectionCheckpoint.objects.get_or_create(name=projection.name)
        held = _held_aggregates(projection.name)
        count = 0
        while True:
            events = store.read_all(after_position=checkpoint.position, limit=batch_size)
            if not events:
                break
            with transaction.atomic():
                _apply(projection, events, held)
                checkpoint.position = events[-1].position
                checkpoint.save(update_fields=["position", "updated_at"])
            count += len(events)
        handled[projection.name] = count
    return handled


def _key(event: StoredEvent) -> tuple[str, str, str]:
    return event.tenant, event.aggregate_type, event.aggregate_id


def _held_aggregates(name: str) -> dict[tuple[str, str, str], int]:
    """The aggregates with an open failure for the projection: key -> the failed position."""
    held = {}
    for *key, position in (FailedProjection.objects.filter(projection=name, resolved_at__isnull=True)
                           .order_by("-position").values_list("tenant", "aggregate_type", "aggregate_id",
                                                              "position")):
        held[tuple(key)] = position
    return held


def _apply(projection: Projection, events: Sequence[StoredEvent], held: dict) -> None:
    ready = [e for e in events if _key(e) not in held]
    try:
        with transaction.atomic():  # the usual case: the whole batch at once
            projection.handle(ready)
    except Exception:
        log.warning("projection %s failed on a batch; applying its events one at a time", projection.name,
                    exc_info=True)
        ready = _one_by_one(projection, ready, held)
    applied = {e.position for e in ready}
    for event in events:
        if _key(event) in held and event.position not in applied:
            _hold(projection.name, event, f"waits for the failed event at position {held[_key(event)]} "
                                          "of its aggregate")


def _one_by_one(projection: Projection, events: Sequence[StoredEvent], held: dict) -> list[StoredEvent]:
    """Apply each event in a savepoint of its own; record the first failure of each aggregate
    (its later events are held). The events that were applied."""
    applied = []
    for event in events:
        if _key(event) in held:
            continue
        try:
            with transaction.atomic():
                projection.handle([event])
            applied.append(event)
        except Exception as error:
            log.exception("projection %s failed on event %s (position %s)", projection.name,
                          event.record.get("event_id"), event.position)
            record_failure(projection.name, event, error)
            held[_key(event)] = event.position
    return applied


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:4000]


def record_failure(name: str, event: StoredEvent, error: Exception) -> None:
    """Keep (or count again) ``event`` as failed for projection ``name``, with the error."""
    row, created = FailedProjection.objects.get_or_create(
        projection=name, position=event.position, defaults=_identity(event) | {"error": _describe(error), "attempts": 1})
    if not created:
        _count_again(row.pk, error)


def _count_again(pk: int, error: Exception) -> None:
    FailedProjection.objects.filter(pk=pk).update(error=_describe(error), attempts=F("attempts") + 1,
                                                  resolved_at=None, last_failed_at=timezone.now())


def _hold(name: str, event: StoredEvent, why: str) -> None:
    FailedProjection.objects.get_or_create(projection=name, position=event.position,
                                           defaults=_identity(event) | {"error": why, "attempts": 0})


def _identity(event: StoredEvent) -> dict:
    return {"event_id": event.record["event_id"], "tenant": event.tenant, "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id, "sequence": event.sequence}


def retry_failed(*, projections: Sequence[Projection] | None = None, store: EventStore | None = None,
                 positions: Sequence[int] | None = None) -> dict[str, int]:
    """Apply the open failures again, each aggregate's in feed order, stopping an aggregate at
    its first event that still fails. ``positions`` narrows to those failures (and what waits
    behind them). Returns how many were resolved per projection."""
    store = store or get_event_store()
    projections = configured_projections() if projections is None else projections
    resolved = {}
    for projection in projections:
        rows = list(FailedProjection.objects.filter(projection=projection.name, resolved_at__isnull=True)
                    .order_by("position"))
        if positions is not None:  # the chosen failures' aggregates: what waits behind them goes too
            chosen = set(positions)
            wanted = {(r.tenant, r.aggregate_type, r.aggregate_id) for r in rows if r.position in chosen}
            rows = [r for r in rows if (r.tenant, r.aggregate_type, r.aggregate_id) in wanted]
        events = {e.record["event_id"]: e for e in store.get_many([r.event_id for r in rows],
                                                                   positions=[r.position for r in rows])}
        stuck, count = set(), 0
        for row in rows:
            key = (row.tenant, row.aggregate_type, row.aggregate_id)
            if key in stuck:
                continue
            try:
                if row.event_id not in events:
                    raise LookupError(f"event {row.event_id} is not in the store")
                with transaction.atomic():
                    projection.handle([events[row.event_id]])
                    FailedProjection.objects.filter(pk=row.pk).update(resolved_at=timezone.now())
                count += 1
            except Exception as error:
                log.exception("retrying projection %s on event %s failed", projection.name, row.event_id)
                _count_again(row.pk, error)
                stuck.add(key)
        resolved[projection.name] = count
    return resolved


def rebuild(projection: Projection) -> None:
    """Drop what ``projection`` derived and rewind it to the start of the feed."""
    with transaction.atomic():
        projection.reset()
        ProjectionCheckpoint.objects.filter(name=projection.name).delete()
        FailedProjection.objects.filter(projection=projection.name).delete()  # replayed from the start


def run_forever(
    *, interval: float, should_stop: Callable[[], bool] = lambda: False, **kwargs
) -> None:
    """Catch up, sleep ``interval`` seconds when idle, repeat until ``should_stop()``."""
    from .periodic import projector_jobs

    since_analyze = ANALYZE_EVERY  # once at start, then as the store grows
    jobs = projector_jobs()
    while not should_stop():
        handled = catch_up(**kwargs)
        for job in jobs:
            job.tick()
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
