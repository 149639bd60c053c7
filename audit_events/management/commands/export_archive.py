"""Archive every whole UTC day of the log not archived yet (see audit_events.archive)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from audit_events.archive import ArchiveError, export_archive
from audit_events.store import get_event_store


class Command(BaseCommand):
    help = "Write each whole day's events as compressed JSON Lines plus a manifest of hashes to the archive storage."

    def add_arguments(self, parser):
        parser.add_argument("--before", type=date.fromisoformat, metavar="YYYY-MM-DD",
                            help="archive the days before this one (default: today, UTC: only whole days)")

    def handle(self, *args, before=None, **options):
        try:
            days = export_archive(get_event_store(), before=before)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        for day in days:
            self.stdout.write(f"archived {day.day}: {day.events} events")
        self.stdout.write(f"{len(days)} day(s) archived")
