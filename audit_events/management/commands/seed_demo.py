"""Generate realistic, reproducible demo events through the normal append path."""

import json
from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError

from audit_events.demo import generate_events
from audit_events.ingest import IngestError, parse_events
from audit_events.services import append_events

BATCH = 500


class Command(BaseCommand):
    help = "Append N demo events for a bank, a hospital and a shop (same seed, same events)."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=5000, help="how many (default 5000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--until", help="RFC 3339 end of the period (default: today's midnight UTC)"
        )
        parser.add_argument("--days", type=int, default=30, help="length of the period in days")

    def handle(self, *args, events, seed, until, days, **options):
        if events < 1:
            raise CommandError("--events must be at least 1")
        end = None
        if until:
            try:
                end = datetime.fromisoformat(until.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(f"--until must be an RFC 3339 date-time, got {until!r}")
            if end.tzinfo is None:
                end = end.replace(tzinfo=timezone.utc)
        created = duplicates = 0
        batch = []

        def flush():
            nonlocal created, duplicates
            # Through the same validation as the HTTP API, then the same append.
            try:
                parsed, _ = parse_events(json.dumps({"events": batch}).encode())
            except IngestError as exc:
                raise CommandError(f"demo data failed validation: {exc.as_dict()}")
            for result in append_events(events=parsed):
                if result.status == "created":
                    created += 1
                else:
                    duplicates += 1
            batch.clear()

        for event in generate_events(count=events, seed=seed, until=end, days=days):
            batch.append(event)
            if len(batch) == BATCH:
                flush()
        if batch:
            flush()
        self.stdout.write(f"seeded {created} events ({duplicates} were stored already)")
