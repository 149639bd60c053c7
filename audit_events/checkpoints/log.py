"""Each tenant's Merkle log: the ``merkle_log`` projection and the trees it stores.

Leaves are ``SHA-256(0x00 ‖ the event hash's 32 bytes)`` in the order the projection
processes events (the SQL feed's order, or the stream's), with each event's leaf index kept.
Only complete subtrees are stored (``MerkleNode``): a node is written once, when its last leaf
arrives, so the root of any size and every proof take O(log² n) stored nodes.
"""

from collections import defaultdict
from typing import Sequence

from django.db import transaction
from django.db.models import Max, Q

from ..models import MerkleLeaf, MerkleLog, MerkleNode
from ..offline.merkle import EMPTY_ROOT, consistency_proof, inclusion_proof, leaf_hash, node_hash, split
from ..projections.base import Projection
from ..store import StoredEvent

__all__ = ["MerkleLogProjection", "OutOfOrderError", "TenantTree"]

#: stored nodes read per query by ``TenantTree.load_for``
NODE_CHUNK = 500


class OutOfOrderError(Exception):
    """An event arrived before the one it follows in its aggregate: the log would show them
    reordered, forever (signed). The projector holds the aggregate until the gap is filled."""


class MerkleLogProjection(Projection):
    """Appends each new event to its tenant's log, each only after the event before it in its
    aggregate; idempotent by event id."""

    name = "merkle_log"

    def handle(self, events: Sequence[StoredEvent]) -> None:
        by_tenant: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant].append(event)
        for tenant, items in by_tenant.items():
            self._append(tenant, items)

    def _append(self, tenant: str, events: list[StoredEvent]) -> None:
        with transaction.atomic():
            MerkleLog.objects.get_or_create(tenant=tenant)
            # One writer per tenant at a time: stream shards are processed concurrently.
            log = MerkleLog.objects.select_for_update().get(tenant=tenant)
            # What is in the log already is read under the lock: a concurrent delivery of the same
            # events finds them, rather than failing on the unique index.
            known = {str(i) for i in MerkleLeaf.objects.filter(
                tenant=tenant, event_id__in=[e.record["event_id"] for e in events]).values_list("event_id", flat=True)}
            fresh = [e for e in events if e.record["event_id"] not in known]
            heads = _heads(tenant, fresh)
            tree, nodes, leaves = TenantTree(tenant), [], []
            for event in fresh:
                key = (event.aggregate_type, event.aggregate_id)
                if event.sequence != heads.get(key, 0) + 1:
                    raise OutOfOrderError(f"{tenant}/{key[0]}/{key[1]} #{event.sequence} arrived before "
                                          f"#{heads.get(key, 0) + 1}: it joins the log after it")
                heads[key] = event.sequence
                index = log.size
                digest = leaf_hash(bytes.fromhex(event.hash))
                level, position = 0, index
                while True:
                    tree.remember(level, position, digest)
                    nodes.append(MerkleNode(tenant=tenant, level=level, index=position, hash=digest.hex()))
                    if position % 2 == 0:
                        break  # a left child: its parent completes with a later leaf
                    digest = node_hash(tree.node(level, position - 1), digest)
                    level, position = level + 1, position // 2
                leaves.append(MerkleLeaf(event_id=event.record["event_id"], tenant=tenant, leaf_index=index,
                                         position=event.position, aggregate_type=event.aggregate_type,
                                         aggregate_id=event.aggregate_id, sequence=event.sequence))
                log.size += 1
            MerkleNode.objects.bulk_create(nodes)
            MerkleLeaf.objects.bulk_create(leaves)
            log.save(update_fields=["size"])

    def reset(self) -> None:
        """Keeps the log: its order is what the checkpoints signed, and a replay of another
        order (a stream's) would contradict them. A rebuild adds only what is missing."""


def _heads(tenant: str, events: list[StoredEvent]) -> dict[tuple[str, str], int]:
    """The last sequence in the log of each aggregate ``events`` continue (none: not in the log
    yet), read for the aggregates whose first event here is not their first."""
    firsts: dict[tuple[str, str], int] = {}
    for event in events:
        firsts.setdefault((event.aggregate_type, event.aggregate_id), event.sequence)
    wanted = [key for key, sequence in firsts.items() if sequence > 1]
    heads = {}
    for start in range(0, len(wanted), 200):
        chunk = Q()
        for aggregate_type, aggregate_id in wanted[start:start + 200]:
            chunk |= Q(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        rows = (MerkleLeaf.objects.filter(chunk, tenant=tenant).values("aggregate_type", "aggregate_id")
                .annotate(head=Max("sequence")).values_list("aggregate_type", "aggregate_id", "head"))
        heads.update({(aggregate_type, aggregate_id): head for aggregate_type, aggregate_id, head in rows})
    return heads


class TenantTree:
    """One tenant's stored tree: roots and proofs for any size up to the log's."""

    def __init__(self, tenant: str):
        self.tenant = tenant
        self._nodes: dict[tuple[int, int], bytes] = {}

    def remember(self, level: int, index: int, digest: bytes) -> None:
        self._nodes[(level, index)] = digest

    def node(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._nodes:
            stored = MerkleNode.objects.filter(tenant=self.tenant, level=level, index=index).values_list(
                "hash", flat=True).first()
            if stored is None:
                raise LookupError(f"{self.tenant}: no complete subtree at level {level}, index {index}")
            self._nodes[key] = bytes.fromhex(stored)
        return self._nodes[key]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end): stored when complete and aligned, else split as RFC 6962 does."""
        count = end - start
        if count & (count - 1) == 0 and start % count == 0:
            return self.node(count.bit_length() - 1, start // count)
        middle = start + split(count)
        return node_hash(self.subtree(start, middle), self.subtree(middle, end))

    def root(self, size: int) -> bytes:
        return self.subtree(0, size) if size else EMPTY_ROOT

    def load_for(self, *, inclusions=(), consistencies=(), roots=()) -> None:
        """Read every stored node these proofs and roots will need, in few queries: they are
        walked first without the database, then the nodes read ``NODE_CHUNK`` to a query.
        ``inclusions`` are (index, size) pairs, ``consistencies`` (old size, new size) pairs."""
        recorder = _NodeRecorder(self.tenant)
        for size in roots:
            recorder.root(size)
        for index, size in inclusions:
            recorder.inclusion(index, size)
        for old, new in consistencies:
            recorder.consistency(old, new)
        wanted = sorted(recorder.wanted)
        for start in range(0, len(wanted), NODE_CHUNK):
            chunk = wanted[start:start + NODE_CHUNK]
            levels: dict[int, list[int]] = defaultdict(list)
            for level, index in chunk:
                levels[level].append(index)
            where = Q()
            for level, indexes in levels.items():
                where |= Q(level=level, index__in=indexes)
            for level, index, digest in MerkleNode.objects.filter(where, tenant=self.tenant).values_list(
                    "level", "index", "hash"):
                try:
                    self.remember(level, index, bytes.fromhex(digest))
                except ValueError:  # a mangled node: the proof that needs it reads it again and fails
                    continue

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return inclusion_proof(index, size, self.subtree)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        return consistency_proof(old_size, new_size, self.subtree)


class _NodeRecorder(TenantTree):
    """Walks proofs without reading anything, noting the stored nodes they would read."""

    def __init__(self, tenant: str):
        super().__init__(tenant)
        self.wanted: set[tuple[int, int]] = set()

    def node(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return bytes(32)

