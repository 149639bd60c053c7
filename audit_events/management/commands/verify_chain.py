"""Recompute every hash chain; exit 1 naming each broken aggregate."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from audit_events.models import ChainVerification
from audit_events.store import get_event_store
from audit_events.verification import verify_store


class Command(BaseCommand):
    help = "Verify the hash chains of stored events (all, one tenant, or one aggregate)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant")
        parser.add_argument("--aggregate", metavar="TYPE:ID", help="only this aggregate")

    def handle(self, *args, tenant=None, aggregate=None, **options):
        target = None
        if aggregate is not None:
            aggregate_type, sep, aggregate_id = aggregate.partition(":")
            if not sep or not aggregate_type or not aggregate_id:
                raise CommandError(f"--aggregate must be TYPE:ID, got {aggregate!r}")
            target = (aggregate_type, aggregate_id)
        started = time.perf_counter()
        report = verify_store(get_event_store(), tenant=tenant, aggregate=target)
        elapsed = time.perf_counter() - started
        if target is None:
            record_verification(report, tenant=tenant)
        if report.ok:
            self.stdout.write(
                f"verified {report.events} events in {report.aggregates} aggregates"
            )
            self.stderr.write(f"({elapsed:.2f} s)")
            return
        for chain_break in report.breaks:
            self.stdout.write(f"BROKEN {chain_break}")
        self.stdout.write(
            f"{len(report.breaks)} of {report.aggregates} aggregates broken "
            f"({report.events} events read)"
        )
        sys.exit(1)


def record_verification(report, *, tenant=None) -> None:
    """One ``ChainVerification`` per tenant checked: the dashboard's verification status.

    A tenant verified before that now has neither events nor heads is recorded
    as broken: an emptied tenant must not keep its old green badge.
    """
    checked = dict(report.tenant_events)
    earlier = [tenant] if tenant else ChainVerification.objects.values_list("tenant", flat=True).distinct()
    vanished = [name for name in earlier if name not in checked]
    ChainVerification.objects.bulk_create(
        [ChainVerification(
            tenant=name, events=count, ok=not any(b.aggregate[0] == name for b in report.breaks),
            breaks=[str(b) for b in report.breaks if b.aggregate[0] == name][:20],
        ) for name, count in sorted(checked.items())]
        + [ChainVerification(tenant=name, events=0, ok=False, breaks=["no events and no heads found"])
           for name in vanished]
    )
