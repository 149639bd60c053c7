"""Replay: state of one long aggregate at random points, with and without snapshots.

Usage: .venv/bin/python bench/replay.py [--events 1000000] [--samples 20] [--skip-peer]

Appends --events events to ONE aggregate (batches of 500) on a fresh SQLite
store, builds snapshots (every AUDIT_SNAPSHOT_EVERY = 1000 events) through the
projection, then measures:

- state at a random sequence through the snapshot path (p50/p95 ms), as
  `GET .../state?sequence=N` computes it;
- a full fold from the first event without snapshots (events/s);
- the eventsourcing library's reconstruction of one aggregate with the same
  number of events (events/s), in the same run.
"""

import argparse
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _setup import append_all, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-replay-"))
    setup_django(workdir, AUDIT_SNAPSHOT_EVERY="1000")
    from audit_events.projections.snapshots import SnapshotProjection
    from audit_events.projector import catch_up
    from audit_events.replay import state_at
    from audit_events.replay.reducers import ReplayedState, reduce_event
    from audit_events.store import get_event_store
    from portal.access.policy import PolicySpec, Subject
    from tests.audit_events.search.contracts import SubjectReader

    store = get_event_store()
    started = time.perf_counter()
    append_all({
        "tenant": "acme-bank", "aggregate_type": "Account", "aggregate_id": "acc-long",
        "event_type": "BalanceChanged", "occurred_at": "2026-11-01T09:00:00Z",
        "actor": {"id": "svc-ledger", "type": "service"},
        "payload": {"balance_cents": n, f"field_{n % 50}": n},
    } for n in range(args.events))
    print(f"appended {args.events:,} events to one aggregate in {time.perf_counter() - started:,.0f} s")

    started = time.perf_counter()
    catch_up(projections=[SnapshotProjection()], batch_size=5000)
    print(f"built snapshots every 1,000 events in {time.perf_counter() - started:,.0f} s")

    reader = SubjectReader(Subject(username="bench", pii=True,
                                   policies=(PolicySpec(effect="allow", actions=["*"], conditions=[]),)))
    rng = random.Random(3)
    timings = []
    for _ in range(args.samples):
        sequence = rng.randrange(1, args.events + 1)
        started = time.perf_counter()
        result = state_at(store, reader, "acme-bank", "Account", "acc-long", sequence=sequence)
        timings.append((time.perf_counter() - started) * 1000)
        assert result.sequence == sequence and result.verified
    ordered = sorted(timings)
    print(f"state at a random sequence (snapshots): p50 {statistics.median(timings):.1f} ms, "
          f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms")

    started = time.perf_counter()
    state, after = ReplayedState(), 0
    while True:
        page = store.read_aggregate("acme-bank", "Account", "acc-long", after=after, limit=5000)
        if not page:
            break
        for item in page:
            state = reduce_event(state, item.record)
        after = page[-1].sequence
    print(f"full fold without snapshots: {args.events / (time.perf_counter() - started):,.0f} events/s")

    if not args.skip_peer:
        os.environ.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=str(workdir / "peer.sqlite3"))
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event

        class Account(Aggregate):
            def __init__(self):
                self.balance = 0

            @event("BalanceChanged")
            def change(self, balance: int):
                self.balance = balance

        class Bank(Application):
            pass

        app = Bank()
        account = Account()
        for start in range(0, args.events - 1, 10_000):
            for n in range(start, min(start + 10_000, args.events - 1)):
                account.change(n)
            app.save(account)
        started = time.perf_counter()
        app.repository.get(account.id)
        print(f"peer eventsourcing reconstruction of one aggregate: "
              f"{args.events / (time.perf_counter() - started):,.0f} events/s")
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/replay.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
