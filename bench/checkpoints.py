"""Merkle logs and checkpoints: how fast the log is built, signed and proved.

Usage: .venv/bin/python bench/checkpoints.py [--events 100000] [--proofs 200]

Appends --events demo events (three tenants) to a fresh SQLite store, then measures:
- the ``merkle_log`` projection alone over the whole feed (events/s);
- signing a checkpoint of each tenant (ms, the root computed from stored subtrees);
- inclusion proofs of random events against the newest checkpoint, as
  ``GET /api/v1/events/{id}/proof`` computes them (p50/p95 ms, with verification);
- consistency proofs between random sizes of the largest tenant's log (p50/p95 ms).
"""

import argparse
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _setup import append_all, setup_django


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p95 {ordered[int(len(ordered) * 0.95) - 1] * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--proofs", type=int, default=200)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-checkpoints-"))
    setup_django(workdir, AUDIT_CHECKPOINT_KEY_FILE=str(workdir / "key.pem"))
    from audit_events.checkpoints.log import MerkleLogProjection, TenantTree
    from audit_events.checkpoints.services import make_checkpoint
    from audit_events.demo import generate_events
    from audit_events.models import MerkleLeaf, MerkleLog
    from audit_events.offline.merkle import leaf_hash, verify_consistency, verify_inclusion
    from audit_events.projector import catch_up
    from audit_events.store import get_event_store

    started = time.perf_counter()
    append_all(generate_events(count=args.events))
    print(f"appended {args.events:,} demo events in {time.perf_counter() - started:,.1f} s")

    started = time.perf_counter()
    handled = catch_up(projections=[MerkleLogProjection()], batch_size=1000)["merkle_log"]
    elapsed = time.perf_counter() - started
    print(f"merkle_log projection: {handled:,} events in {elapsed:,.1f} s = {handled / elapsed:,.0f} events/s")

    logs = dict(MerkleLog.objects.values_list("tenant", "size"))
    signed = {}
    for tenant, size in sorted(logs.items()):
        started = time.perf_counter()
        checkpoint = signed[tenant] = make_checkpoint(tenant=tenant)
        print(f"checkpoint {tenant} at {size:,} leaves: {(time.perf_counter() - started) * 1000:.1f} ms "
              f"(key {checkpoint.key_id})")

    rng, store = random.Random(1), get_event_store()
    leaves = list(MerkleLeaf.objects.values_list("event_id", "tenant", "leaf_index"))
    samples = []
    for event_id, tenant, index in rng.sample(leaves, min(args.proofs, len(leaves))):
        started = time.perf_counter()
        size = logs[tenant]
        tree = TenantTree(tenant)  # as GET /api/v1/events/{id}/proof: nodes in one read, the signed root
        tree.load_for(inclusions=[(index, size)])
        path, top = tree.inclusion(index, size), bytes.fromhex(signed[tenant].root_hash)
        event = store.get(str(event_id))
        assert verify_inclusion(leaf_hash(bytes.fromhex(event.hash)), index, size, path, top)
        samples.append(time.perf_counter() - started)
    print(f"inclusion proof + verification ({len(samples)} random events): {percentiles(samples)}")

    tenant, size = max(logs.items(), key=lambda item: item[1])
    samples = []
    for _ in range(args.proofs):
        old = rng.randint(1, size)
        started = time.perf_counter()
        tree = TenantTree(tenant)  # as GET /api/v1/checkpoints/consistency
        tree.load_for(roots=(old, size), consistencies=[(old, size)])
        proof = tree.consistency(old, size)
        assert verify_consistency(old, size, tree.root(old), tree.root(size), proof)
        samples.append(time.perf_counter() - started)
    print(f"consistency proof + verification ({tenant}, {size:,} leaves): {percentiles(samples)}")
    print("command:", shlex.join([sys.executable.rsplit('/', 1)[-1], *sys.argv]))


if __name__ == "__main__":
    main()
