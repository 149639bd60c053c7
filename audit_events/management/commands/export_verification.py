"""Write a tenant's verification package: its events, signed checkpoints and proofs, for
``audit-verify`` (audit_events/offline/verify.py) on an auditor's machine. See docs/VERIFY.md."""

from django.core.management.base import BaseCommand, CommandError

from audit_events.checkpoints.package import PackageError, export_package


class Command(BaseCommand):
    help = ("Write a verification package of one tenant's log (every event its newest checkpoint covers, "
            "or only --event ones) for the offline verifier.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant whose log to export")
        parser.add_argument("--out", required=True, metavar="FILE.zip",
                            help="where to write it: a new .zip file (any other name: a new directory)")
        parser.add_argument("--event", action="append", dest="events", metavar="ID",
                            help="only this event (repeatable): a subset package, as a report's evidence")

    def handle(self, *args, tenant, out, events=None, **options):
        try:
            summary = export_package(tenant=tenant, out_path=out, event_ids=events)
        except PackageError as exc:
            option = {"tenant": "--tenant", "event_ids": "--event", "out_path": "--out"}[exc.argument]
            raise CommandError(f"{option}: {exc}") from None
        self.stdout.write(f"{summary.kind} verification package of {tenant}: {_count(summary.events, 'event')}, "
                          f"{_count(summary.checkpoints, 'checkpoint')} (the newest at size {summary.tree_size}) "
                          f"written to {summary.path}")
        if summary.not_covered:
            self.stdout.write(f"left out, not covered by a checkpoint yet: {', '.join(summary.not_covered)}")
        if summary.missing:
            self.stderr.write(f"WARNING: {len(summary.missing)} events of the log are not in the store "
                              f"(the verifier will report them): {', '.join(summary.missing[:20])}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
