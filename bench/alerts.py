"""Alert rules: how fast the ``alerts`` projection evaluates the built-in rules on the feed.

Usage: .venv/bin/python bench/alerts.py [--events 100000] [--batch 1000]

Appends --events demo events (the make-run simulation: three tenants, with its burst, storm,
spree, night-read and break-glass patterns) to a fresh SQLite store, then runs only the
``alerts`` projection over the whole feed with the six built-in rules enabled, in batches of
--batch as run_projector reads them, and prints events/s, the alerts raised per rule and how
many window states are kept. Window state on the embedded SQL table.
"""

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

from _setup import append_all, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-alerts-"))
    setup_django(workdir)
    from django.db.models import Count

    from audit_events.alerts.evaluation import AlertProjection
    from audit_events.demo import generate_events
    from audit_events.models import Alert, AlertWindowState
    from audit_events.projector import catch_up

    started = time.perf_counter()
    append_all(generate_events(count=args.events))
    print(f"appended {args.events:,} demo events in {time.perf_counter() - started:,.1f} s")

    started = time.perf_counter()
    handled = catch_up(projections=[AlertProjection()], batch_size=args.batch)["alerts"]
    elapsed = time.perf_counter() - started
    print(f"alerts projection: {handled:,} events in {elapsed:,.1f} s = {handled / elapsed:,.0f} events/s "
          f"(batches of {args.batch:,})")
    for name, count in Alert.objects.values_list("rule__name").annotate(n=Count("pk")).order_by("rule__name"):
        print(f"  {count:>5} alerts  {name}")
    print(f"window states kept: {AlertWindowState.objects.count():,}")
    print("command:", shlex.join([sys.executable.rsplit('/', 1)[-1], *sys.argv]))


if __name__ == "__main__":
    main()
