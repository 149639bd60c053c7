"""Ingest and verification throughput, beside the ``eventsourcing`` library.

Usage: .venv/bin/python bench/ingest.py [--events 100000] [--batch 500]
                                        [--database-url URL] [--skip-http] [--skip-peer]

Each phase runs on a fresh database in a temporary directory (SQLite unless
--database-url names another, which must be empty and is migrated here):

- store:  validate (pydantic) + hash + append through the store, batches of --batch;
- http:   POST /api/v1/events with batches of --batch to one gunicorn worker;
- verify: recompute every hash chain from the stored records (verify_chain's code);
- peer:   the eventsourcing library's SQLite application appending the same
          number of events, 100 per commit, then reading every aggregate back.

Prints one line per figure and the command that produced them.
"""

import argparse
import http.client
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, setup_django


def demo_events(count: int) -> list[dict]:
    from audit_events.demo import generate_events

    return list(generate_events(count=count, seed=42))


def peer_shaped_events(count: int) -> list[dict]:
    """The peer's workload: aggregates of 100 events each, appended in order."""
    events = []
    for n in range(count):
        events.append({
            "tenant": "acme-bank", "aggregate_type": "Account", "aggregate_id": f"acc-{n // 100}",
            "event_type": "Deposited", "occurred_at": "2026-11-01T09:00:00Z",
            "actor": {"id": "svc-ledger", "type": "service"}, "payload": {"amount_cents": n % 100},
        })
    return events


def bench_store(events: list[dict], batch: int) -> float:
    from pydantic import TypeAdapter

    from audit_events.schema import EventIn
    from audit_events.store import get_event_store

    adapter = TypeAdapter(list[EventIn])
    store = get_event_store()
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        store.append(adapter.validate_python(events[start : start + batch]))
    return len(events) / (time.perf_counter() - started)


def bench_verify() -> tuple[float, int]:
    from audit_events.store import get_event_store
    from audit_events.verification import verify_store

    started = time.perf_counter()
    report = verify_store(get_event_store())
    elapsed = time.perf_counter() - started
    assert report.ok, report.breaks[:3]
    return report.events / elapsed, report.events


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_http(events: list[dict], batch: int, workdir: Path) -> float:
    from audit_events.demo import TENANTS
    from audit_events.services import publisher_key_create

    _, secret = publisher_key_create(name=f"bench-{time.time_ns()}", tenants=list(TENANTS))
    # Fresh event ids: the store phase already holds these events.
    import uuid

    bodies = []
    for start in range(0, len(events), batch):
        chunk = [dict(e, event_id=str(uuid.uuid4())) for e in events[start : start + batch]]
        bodies.append(json.dumps({"events": chunk}).encode())

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "portal.wsgi:application"],
        cwd=ROOT, env=dict(os.environ, DJANGO_DEBUG="false"),
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        started = time.perf_counter()
        for body in bodies:
            connection.request("POST", "/api/v1/events", body, headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 201:
                raise SystemExit(f"HTTP {response.status}: {payload[:300]!r}")
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()
    return len(events) / elapsed


def bench_peer(count: int, workdir: Path) -> tuple[float, float]:
    """The eventsourcing library's SQLite application, 100 events per commit."""
    os.environ.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=str(workdir / "peer.sqlite3"))
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        def __init__(self, owner: str):
            self.owner = owner
            self.balance = 0

        @event("Deposited")
        def deposit(self, amount: int):
            self.balance += amount

    class Bank(Application):
        pass

    app = Bank()
    per_commit = 100
    ids = []
    started = time.perf_counter()
    for _ in range(count // per_commit):
        account = Account(owner="Ann")  # the creation event counts as one
        for amount in range(per_commit - 1):
            account.deposit(amount)
        app.save(account)
        ids.append(account.id)
    append_rate = (len(ids) * per_commit) / (time.perf_counter() - started)
    started = time.perf_counter()
    for aggregate_id in ids:
        app.repository.get(aggregate_id)
    read_rate = (len(ids) * per_commit) / (time.perf_counter() - started)
    return append_rate, read_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        workdir = Path(tmp)
        url = setup_django(workdir, args.database_url)
        events = demo_events(args.events)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, database {url.split(':', 1)[0]}")
        store_rate = bench_store(events, args.batch)
        print(f"store append, demo mix (validate + hash + insert, batches of {args.batch}): "
              f"{store_rate:,.0f} events/s")
        verify_rate, verified = bench_verify()
        print(f"verify_chain ({verified:,} events): {verify_rate:,.0f} events/s")
        shaped_rate = bench_store(peer_shaped_events(args.events), args.batch)
        print(f"store append, 100 events per aggregate like the peer (batches of {args.batch}): "
              f"{shaped_rate:,.0f} events/s")
        if not args.skip_http:
            http_rate = bench_http(events, args.batch, workdir)
            print(f"HTTP ingest (1 gunicorn worker, batches of {args.batch}): {http_rate:,.0f} events/s")
        if not args.skip_peer:
            peer_append, peer_read = bench_peer(args.events, workdir)
            print(f"peer eventsourcing SQLite append (100 events per commit): {peer_append:,.0f} events/s")
            print(f"peer eventsourcing SQLite read back (repository.get): {peer_read:,.0f} events/s")
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/ingest.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
