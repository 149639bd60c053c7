"""Follow the change feed and keep every projection up to date."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit_events.alerts.evaluation import check_silence
from audit_events.checkpoints.services import make_due_checkpoints
from audit_events.projections import configured_projections
from audit_events.projector import catch_up, refresh_planner_statistics, run_forever
from audit_events.projector import rebuild as rebuild_projection


class Command(BaseCommand):
    help = "Run the projections over the change feed (until stopped, or --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="catch up, then exit")
        parser.add_argument(
            "--rebuild", action="store_true",
            help="first drop every projection's data and replay the feed from the start",
        )
        parser.add_argument(
            "--backfill", nargs="+", metavar="NAME",
            help="replay the store's whole feed into these projections only, keeping what they hold "
                 "(e.g. merkle_log after an upgrade; on AWS with the stream mapping paused), then exit",
        )
        parser.add_argument(
            "--interval", type=float, default=None,
            help="seconds to sleep when idle (default: AUDIT_PROJECTOR_INTERVAL)",
        )

    def handle(self, *args, once=False, rebuild=False, interval=None, backfill=None, **options):
        if backfill:
            self._backfill(backfill)
            return
        if rebuild:
            for projection in configured_projections():
                rebuild_projection(projection)
                self.stderr.write(f"{projection.name}: dropped, replaying from the start")
            if settings.AUDIT_STORE == "dynamodb":
                # A stream keeps 24 hours: a rebuild replays the store's own feed, then polls.
                for name, count in catch_up().items():
                    self.stdout.write(f"{name}: {count} events from the store")
        stream = settings.AUDIT_STORE == "dynamodb"
        if stream:
            # The change feed is the table's stream: polled as Lambda's event source mapping
            # reads it, through the processor's own handler.
            from audit_events.stream import poll
        if once:
            if stream:
                poll(interval=0, until_idle=True)
                return
            for name, count in catch_up().items():
                self.stdout.write(f"{name}: {count} events")
            self.stdout.write(f"silence rules: {check_silence()} alert(s) raised")
            self.stdout.write(f"checkpoints: {len(make_due_checkpoints())} signed")
            refresh_planner_statistics()
            return
        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        interval = settings.AUDIT_PROJECTOR_INTERVAL if interval is None else interval
        follows = "polling the events stream" if stream else "running"
        self.stderr.write(f"projector {follows} (idle interval {interval}s); Ctrl-C stops it")
        (poll if stream else run_forever)(interval=interval, should_stop=lambda: bool(stopping))
        self.stderr.write("projector stopped")

    def _backfill(self, names: list[str]) -> None:
        """Feed the named projections every stored event, in feed order, from the first: each is
        idempotent, so what they hold already is kept and only what is missing is added."""
        from audit_events.models import ProjectionCheckpoint

        projections = {p.name: p for p in configured_projections()}
        unknown = [n for n in names if n not in projections]
        if unknown:
            raise CommandError(f"--backfill: no projection named {', '.join(unknown)}; "
                               f"the projections are {', '.join(projections)}")
        chosen = [projections[n] for n in names]
        ProjectionCheckpoint.objects.filter(name__in=names).update(position=0)
        for name, count in catch_up(projections=chosen).items():
            self.stdout.write(f"{name}: {count} events from the store")

