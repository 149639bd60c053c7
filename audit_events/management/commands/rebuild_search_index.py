"""Rebuild the search index from the event store, showing progress, rate and ETA."""

import sys
import time

from django.core.management.base import BaseCommand
from django.db import transaction

from audit_events.models import ProjectionCheckpoint
from audit_events.projections.search import SearchProjection
from audit_events.search import get_search_index
from audit_events.store import get_event_store

BATCH = 2000


class Command(BaseCommand):
    help = "Rebuild the search index from the stored events (the old index serves until the new one is ready)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=BATCH, help="events per bulk write")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, batch, quiet, **options):
        store = get_event_store()
        # Every aggregate's head holds its last sequence: their sum counts the events, on any store.
        total = sum(sequence for sequence, _ in store.heads().values())
        started = time.monotonic()
        done = 0
        last_position = 0

        def batches():
            nonlocal done, last_position
            while True:
                events = store.read_all(after_position=last_position, limit=batch)
                if not events:
                    return
                yield events
                done += len(events)
                last_position = events[-1].position
                if not quiet:
                    self._progress(done, total, started)

        with transaction.atomic():
            get_search_index().rebuild(batches())
            # The projector goes on from where the rebuild stopped.
            ProjectionCheckpoint.objects.update_or_create(
                name=SearchProjection.name, defaults={"position": last_position}
            )
        if not quiet:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"rebuilt the search index: {done} events in {elapsed:.1f} s "
            f"({done / elapsed if elapsed else 0:,.0f} events/s)"
        )

    def _progress(self, done: int, total: int | None, started: float) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = done / elapsed
        if total:
            width = 30
            filled = int(width * min(done / total, 1))
            eta = (total - done) / rate if rate else 0
            line = f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} {rate:,.0f}/s ETA {eta:,.0f}s"
        else:
            line = f"{done:,} events {rate:,.0f}/s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()
