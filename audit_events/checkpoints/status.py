"""Checkpoint statuses for the events a page shows, in a few queries whatever their number.

For each event: the newest checkpoint covering it, whether the event's inclusion proof reaches
the root that checkpoint signs, and whether the signature verifies with the published key. The
newest checkpoint of a tenant covers every leaf below its size, so one checkpoint per tenant
answers for all of the page's events; its signature is checked once, and the stored nodes every
proof needs are read in one query per tenant.
"""

from collections.abc import Iterable

from ..models import Checkpoint, MerkleLeaf
from ..offline.merkle import leaf_hash, verify_inclusion
from ..store import StoredEvent
from .log import TenantTree
from .selectors import signature_valid

__all__ = ["checkpoint_statuses"]


def checkpoint_statuses(events: Iterable[StoredEvent]) -> dict[str, dict]:
    """``{event_id: {"checkpoint", "included", "signature_valid"}}`` for the events a checkpoint
    covers; an event none covers yet (or not yet in its tenant's log) is absent.

    ``included`` is true only when the proof reaches the root the checkpoint's signed document
    states, for the size it states, and the stored columns say the same.
    """
    events = {event.record["event_id"]: event for event in events}
    if not events:
        return {}
    leaves = {str(leaf.event_id): leaf for leaf in MerkleLeaf.objects.filter(event_id__in=list(events))}
    newest = {tenant: _newest_checkpoint(tenant) for tenant in {leaf.tenant for leaf in leaves.values()}}
    covered = {event_id: leaf for event_id, leaf in leaves.items()
               if newest[leaf.tenant] is not None and leaf.leaf_index < newest[leaf.tenant].tree_size}
    trees, signed = {}, {}
    for tenant in {leaf.tenant for leaf in covered.values()}:
        checkpoint = newest[tenant]
        signed[tenant] = signature_valid(checkpoint.document)
        trees[tenant] = _tree_with_nodes(tenant, checkpoint.tree_size,
                                         [leaf.leaf_index for leaf in covered.values() if leaf.tenant == tenant])
    return {event_id: {"checkpoint": newest[leaf.tenant],
                       "included": _included(events[event_id], leaf, newest[leaf.tenant], trees[leaf.tenant]),
                       "signature_valid": signed[leaf.tenant]}
            for event_id, leaf in covered.items()}


def _newest_checkpoint(tenant: str) -> Checkpoint | None:
    return Checkpoint.objects.filter(tenant=tenant).order_by("-tree_size").first()


def _included(event: StoredEvent, leaf: MerkleLeaf, checkpoint: Checkpoint, tree: TenantTree) -> bool:
    document, size = checkpoint.document, checkpoint.tree_size
    # The columns repeat the document for queries; the signature vouches for the document only.
    if document.get("tree_size") != size or document.get("root_hash") != checkpoint.root_hash:
        return False
    try:
        path = tree.inclusion(leaf.leaf_index, size)
        return verify_inclusion(leaf_hash(bytes.fromhex(event.hash)), leaf.leaf_index, size, path,
                                bytes.fromhex(document["root_hash"]))
    except (LookupError, TypeError, ValueError):  # a node missing from the log, a mangled hash
        return False


def _tree_with_nodes(tenant: str, size: int, leaf_indexes: list[int]) -> TenantTree:
    """The tenant's tree holding every stored node the leaves' proofs at ``size`` need (the upper
    nodes are shared by most proofs)."""
    tree = TenantTree(tenant)
    tree.load_for(inclusions=[(index, size) for index in leaf_indexes])
    return tree
