"""Load the archive into an empty event store (see audit_events.archive); verify_chain then
checks the result, and run_projector rebuilds the projections from it."""

from django.core.management.base import BaseCommand, CommandError

from audit_events.archive import ArchiveError, restore_archive
from audit_events.store import get_event_store


class Command(BaseCommand):
    help = "Restore every archived day into an empty event store, each file checked against its manifest first."

    def handle(self, *args, **options):
        try:
            loaded = restore_archive(get_event_store())
        except ArchiveError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"restored {loaded} events; run verify_chain, then run_projector --once")
